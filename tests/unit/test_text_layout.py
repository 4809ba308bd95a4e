"""Plain-text layout: section headings at the margin, definition-list entries, examples."""

from __future__ import annotations

from xnai_edge.knowledge.text_layout import Paragraph, layout

MAN_PAGE = [
    "GZIP(1)                     General Commands Manual                    GZIP(1)",
    "NAME\n       gzip, gunzip, zcat - compress or expand files",
    "DESCRIPTION\n       The gzip command reduces the size of the named files using\n"
    "       Lempel-Ziv coding (LZ77).",
    "OPTIONS\n       -k --keep\n              Keep (don't delete) input files during\n"
    "              compression or decompression.",
    "       -l --list\n              For each compressed file, list the following fields:",
    "                  compressed size: size of the compressed file\n"
    "                  ratio: compression ratio (0.0% if unknown)",
    "              The uncompressed size is given as -1 for files not in gzip\n"
    "              format.",
    "ADVANCED USAGE\n       Multiple compressed files can be concatenated. For example:",
    "             gzip -c file1  > foo.gz\n             gzip -c file2 >> foo.gz",
]


def test_a_man_page_gets_sections_entries_and_one_unit_per_example_line() -> None:
    assert list(layout(MAN_PAGE)) == [
        Paragraph("", "GZIP(1)                     General Commands Manual"
                      "                    GZIP(1)"),
        Paragraph("NAME", "gzip, gunzip, zcat - compress or expand files"),
        Paragraph("DESCRIPTION", "The gzip command reduces the size of the named files using"
                                 "\nLempel-Ziv coding (LZ77)."),
        Paragraph("OPTIONS > -k --keep", "Keep (don't delete) input files during\n"
                                         "compression or decompression."),
        Paragraph("OPTIONS > -l --list", "For each compressed file, list the following fields:"),
        Paragraph("OPTIONS > -l --list", "compressed size: size of the compressed file"),
        Paragraph("OPTIONS > -l --list", "ratio: compression ratio (0.0% if unknown)"),
        Paragraph("OPTIONS > -l --list", "The uncompressed size is given as -1 for files not "
                                         "in gzip\nformat."),
        Paragraph("ADVANCED USAGE", "Multiple compressed files can be concatenated. For "
                                    "example:"),
        Paragraph("ADVANCED USAGE", "gzip -c file1  > foo.gz"),
        Paragraph("ADVANCED USAGE", "gzip -c file2 >> foo.gz"),
    ]


def test_a_definition_list_under_a_lone_heading_line() -> None:
    text = ["Chapter 2. Users and Groups",
            "   Many users have a corresponding group.",
            "   root\n          Root is (typically) the superuser.",
            "   daemon\n          Some daemons run as daemon.",
            "          LSB 1.3 lists daemon as legacy.",
            "   Other groups have no associated user.",
            "   adm\n          Group adm is used for system monitoring tasks.",
            "     __________________________________________________________"]
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("Chapter 2. Users and Groups", "Many users have a corresponding group."),
        ("Chapter 2. Users and Groups > root", "Root is (typically) the superuser."),
        ("Chapter 2. Users and Groups > daemon", "Some daemons run as daemon."),
        ("Chapter 2. Users and Groups > daemon", "LSB 1.3 lists daemon as legacy."),
        ("Chapter 2. Users and Groups", "Other groups have no associated user."),
        ("Chapter 2. Users and Groups > adm", "Group adm is used for system monitoring tasks."),
    ]


def test_plain_prose_is_left_alone() -> None:
    """No indentation signal: short lines stay text, indented prose keeps its sentences."""
    text = ["Dear neighbour", "Thanks for the loan of the ladder.",
            "   An indented quote that runs\n   over two lines.", "See you soon"]
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("", "Dear neighbour"), ("", "Thanks for the loan of the ladder."),
        ("", "An indented quote that runs\nover two lines."), ("", "See you soon")]


def test_caps_and_underlined_headings_in_an_unindented_text() -> None:
    text = ["INSTALLATION", "Run make install.", "Usage\n=====\nRun it.", "Done."]
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("INSTALLATION", "Run make install."), ("Usage", "Run it."), ("Usage", "Done.")]


def test_an_entry_whose_list_of_names_wraps_at_a_comma_keeps_its_text_whole() -> None:
    # journald.conf(5): the term wraps onto a second line at the same indentation; read as
    # text, every line of the description became a unit of its own.
    page = ["OPTIONS\n       Storage=\n           Controls where to store journal data.",
            "       SystemMaxUse=, SystemKeepFree=,\n       RuntimeMaxUse=, RuntimeKeepFree=\n"
            "           Enforce size limits on the journal files\n           stored.",
            "           Defaults to one eighth of the\n           values configured."]
    term = "SystemMaxUse=, SystemKeepFree=, RuntimeMaxUse=, RuntimeKeepFree="
    assert list(layout(page)) == [
        Paragraph("OPTIONS > Storage=", "Controls where to store journal data."),
        Paragraph(f"OPTIONS > {term}", "Enforce size limits on the journal files\nstored."),
        Paragraph(f"OPTIONS > {term}", "Defaults to one eighth of the\nvalues configured."),
    ]


def test_two_spaces_after_a_full_stop_end_a_sentence_before_a_small_letter() -> None:
    # groff sets two spaces after a sentence; a sentence may begin with a command's name.
    page = ["OPTIONS\n       ForwardToKMsg=\n           Add \"log_buf_len=8M\" to the "
            "kernel line.  systemd will\n           stop it.  So approx. two.  Done."]
    entry = "OPTIONS > ForwardToKMsg="
    assert list(layout(page)) == [
        Paragraph(entry, "Add \"log_buf_len=8M\" to the kernel line."),
        Paragraph(entry, "systemd will\nstop it.  So approx. two.  Done."),
    ]


def test_a_settings_name_run_into_its_description_is_its_entry() -> None:
    # avahi-daemon.conf(5): "key= description" paragraphs under a section; a word broken at
    # its own hyphen across lines is whole again.
    page = ["SECTION [SERVER]\n       use-ipv4= Takes a boolean value. If set to \"no\" avahi-\n"
            "       daemon will not use IPv4 sockets.",
            "       use-ipv6= Takes a boolean value.",
            "       Some notes that belong to no setting - at all."]
    assert list(layout(page)) == [
        Paragraph("SECTION [SERVER] > use-ipv4=", "Takes a boolean value. If set to \"no\" "
                                                  "avahi-daemon will not use IPv4 sockets."),
        Paragraph("SECTION [SERVER] > use-ipv6=", "Takes a boolean value."),
        Paragraph("SECTION [SERVER]", "Some notes that belong to no setting - at all."),
    ]


def test_numbered_titles_nest_and_a_contents_section_is_left_out() -> None:
    """The chrony FAQ as text: its contents list repeats every question (each would be the best
    "answer" to itself), and its numbered titles are the sections, a question per entry."""
    text = ["Frequently Asked Questions",
            "Table of Contents",
            "  o 1. Configuration issues\n      ? 1.1. How do I make an NTP server?",
            "1. Configuration issues",
            "1.1. How do I make an NTP server?",
            "By default, chronyd does not operate as an NTP server.",
            "allow 192.168.1.0/24",
            "1.2. Must I specify servers by IP address if DNS is not available on chronyd\n"
            "start?",
            "No, chronyd will keep trying to resolve the names.",
            "2. Computer is not synchronising",
            "2.1. Behind a firewall?",
            "Check the Reach value."]
    server = "1. Configuration issues > 1.1. How do I make an NTP server?"
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("", "Frequently Asked Questions"),
        (server, "By default, chronyd does not operate as an NTP server."),
        (server, "allow 192.168.1.0/24"),
        ("1. Configuration issues > 1.2. Must I specify servers by IP address if DNS is not "
         "available on chronyd start?", "No, chronyd will keep trying to resolve the names."),
        ("2. Computer is not synchronising > 2.1. Behind a firewall?", "Check the Reach value."),
    ]


def test_a_numbered_list_stays_text() -> None:
    """Items with nothing under them but the next item are a list, not sections; a numbered
    sentence is a sentence."""
    text = ["Steps", "1. Open the lid", "2. Fill the kettle", "3. Switch it on.",
            "It boils in 3 minutes.", "2.5 litres at most"]
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("", "Steps"), ("", "1. Open the lid"), ("", "2. Fill the kettle"),
        ("", "3. Switch it on."), ("", "It boils in 3 minutes."), ("", "2.5 litres at most")]


def test_text_under_contents_that_is_no_list_of_titles_is_kept() -> None:
    text = ["CONTENTS", "This box holds a kettle, a base and this leaflet.",
            "Keep the leaflet."]
    assert [(p.heading, p.text) for p in layout(text)] == [
        ("CONTENTS", "This box holds a kettle, a base and this leaflet."),
        ("CONTENTS", "Keep the leaflet.")]
