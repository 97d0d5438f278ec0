"""Code both sides use: settings, protocol, embeddings, model files."""
