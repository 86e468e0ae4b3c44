"""Statements written once give the same instances as the ORM, with its conversions, on both databases."""

import uuid

import pytest
from django.db import connection

from tongban.core import statements
from tongban.identity.models import Person, User
from tongban.identity.tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_rows_become_the_instances_the_orm_gives():
    user = UserFactory(person=PersonFactory())
    users, _ = statements.select_list(User, "u")
    people, _ = statements.select_list(Person, "p")
    sql = (
        f"SELECT {users}, {people} FROM {statements.table(User)} u "
        f"LEFT JOIN {statements.table(Person)} p ON p.id = u.{statements.column(User, 'person')} "
        "WHERE u.uuid = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [statements.param(User, "uuid", user.uuid)])
        row = cursor.fetchone()
    got = statements.from_row(User, row)
    person = statements.from_row(Person, row, len(statements.select_list(User, "u")[1]))
    expected = User.objects.get(pk=user.pk)
    for field in User._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    assert isinstance(got.uuid, uuid.UUID) and got.is_active is True
    assert person.pk == user.person_id and isinstance(person.uuid, uuid.UUID)
    assert not got._state.adding and got._state.db == "default"


def test_a_left_join_without_a_match_is_none():
    assert statements.from_row(Person, (1, None, None), 1) is None
