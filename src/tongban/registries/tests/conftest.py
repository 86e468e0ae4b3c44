from tongban.registries.tests.test_api import world  # noqa: F401 (the API tests' world, for the service tests)
