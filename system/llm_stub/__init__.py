"""OpenAI-compatible LLM stub: a provisioned key with rotation grace, a seeded latency model,
fault modes at runtime, and a deterministic answer quoting the prompt's source ids.

Run: `HALAB_LLM_STUB_API_KEY=... HALAB_LLM_STUB_ADMIN_TOKEN=... python -m system.llm_stub`.
"""
