"""Projects inside an organization, and who may see them."""
