"""Science products: the embeddings store, the UMAP maps and nearest neighbours."""
