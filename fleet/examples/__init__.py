"""Example applications: ``fleet run fleet.examples.hello:app`` runs the HelloWorld recipe."""
