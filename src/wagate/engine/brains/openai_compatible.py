"""Any OpenAI-compatible server (Ollama, vLLM, llama.cpp) by ``base_url``: the OpenAI brain."""

from wagate.engine.brains.openai import OpenAIBrain, make_client

__all__ = ["OpenAIBrain", "make_client"]
