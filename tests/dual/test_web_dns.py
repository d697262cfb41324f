"""The setup DNS server's answer (``web.dns.answer``), on both runtimes. The packets are
written out by hand from RFC 1035 4.1."""
from dynevse.web.dns import answer

# id 0x1234, flags 0x0100 (a query, recursion desired), 1 question; "a.bc" type A class IN
QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x01a\x02bc\x00" + b"\x00\x01\x00\x01"


def test_every_name_is_answered_with_the_board():
    r = answer(QUERY, "192.168.4.1")
    # the same id, a response (QR, RD, RA), one question, one answer
    assert r[:12] == b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
    assert r[12:len(QUERY)] == QUERY[12:]                      # the question echoed
    # pointer to the name at 12, type A, class IN, TTL 60, 4 bytes: 192.168.4.1
    assert r[len(QUERY):] == b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\xa8\x04\x01"


def test_what_is_not_one_plain_question_gets_nothing():
    assert answer(QUERY[:16], "10.0.0.1") is None                      # cut short
    assert answer(QUERY[:2] + b"\x81\x80" + QUERY[4:], "10.0.0.1") is None  # a response
    assert answer(QUERY[:4] + b"\x00\x02" + QUERY[6:], "10.0.0.1") is None  # two questions
    assert answer(QUERY[:2] + b"\x28\x00" + QUERY[4:], "10.0.0.1") is None  # opcode 5 (update)
    assert answer(QUERY[:12] + b"\x50" + QUERY[13:], "10.0.0.1") is None     # a label over 63
