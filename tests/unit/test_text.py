"""Word helpers of retrieval: the FTS5 query, and words written as one."""

from __future__ import annotations

from xnai_edge.knowledge.text import fts_query, joined_pairs


def test_two_neighbouring_words_are_also_asked_for_as_one() -> None:
    # mosquitto.conf(5) says "max_inflight_messages"; owners say "in flight".
    assert "inflight" in joined_pairs("How many messages can be in flight?")
    assert joined_pairs("What is my user name?") == ["myuser", "username"]
    assert "login" in joined_pairs("How do I log in?")
    # not two stop words ("inthe"), not a stop word ("into"), not digits, not too short
    assert joined_pairs("Put it in the tray") == ["putit", "thetray"]
    assert joined_pairs("Walk in to it") == ["walkin"]
    assert joined_pairs("QoS 1 or 2") == []


def test_the_fts_query_quotes_key_terms_then_joined_words() -> None:
    assert fts_query("How do I log in?") == '"log" OR "login"'
    assert fts_query('a "b" of') == '"b"'  # quoted: no FTS syntax leaks in
    assert fts_query("?!") is None
