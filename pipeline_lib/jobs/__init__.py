"""Jenkins jobs from the catalog: generate the JJB projects, render XML, diff and update Jenkins."""
