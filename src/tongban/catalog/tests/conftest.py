import pytest
from django.core.management import call_command

from tongban.catalog.demo import catalogue
from tongban.catalog.transfer import import_catalogue
from tongban.identity.demo import build_demo_city


@pytest.fixture(scope="module")
def demo_catalogue(django_db_setup, django_db_blocker):
    """The demo city and its 66-item catalogue, loaded once per module through the importer, removed after."""
    with django_db_blocker.unblock():
        build_demo_city()
        report = import_catalogue(catalogue())
        yield report
        call_command("flush", interactive=False, verbosity=0)
