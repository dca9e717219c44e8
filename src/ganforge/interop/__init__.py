"""Reading models in other projects' formats: official snapshot pickles."""
