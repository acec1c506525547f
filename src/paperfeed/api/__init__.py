"""The JSON API: Hugging Face Papers compatible routes and native ones, with one error shape."""
