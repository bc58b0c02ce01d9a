"""The conversation engine (AI replies, batching, human takeover): not built yet."""
