"""Science products from the embeddings: UMAP maps, nearest neighbours, the report's inputs."""
