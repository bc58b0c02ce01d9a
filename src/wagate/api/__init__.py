"""The HTTP API: FastAPI routers, authentication, error mapping, the request edge."""
