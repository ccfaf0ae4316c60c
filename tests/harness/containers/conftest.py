"""Make `harness` resolve to the project's package, not to tests/harness.

pytest puts tests/ on sys.path (tests/conftest.py has no package), so `tests/harness/` is
a namespace portion of `harness`, and `tests/harness/images/` would shadow
`harness.images` once `harness` resolves as that namespace. A regular package anywhere on
sys.path wins over namespace portions, so appending the project root is enough.
(The project-wide fix is `pythonpath = ["."]` under [tool.pytest.ini_options].)
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:
    sys.path.append(ROOT)
