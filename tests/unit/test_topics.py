import re

from hypothesis import given
from hypothesis import strategies as st

from appws.layer.topics import group_name

VALID = re.compile(r"^[A-Za-z0-9_.-]{1,99}$")


@given(st.text())
def test_every_topic_maps_to_a_valid_group_name(topic):
    assert VALID.match(group_name(topic))


@given(st.text(), st.text())
def test_distinct_topics_get_distinct_groups(a, b):
    if a != b:
        assert group_name(a) != group_name(b)


def test_name_is_readable_and_prefixed():
    assert group_name("notes", "site1").startswith("site1.t.notes.")
