"""Pipeline stages. Each module is one stage (or venue adapter); stages never import each other."""
