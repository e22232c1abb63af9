"""Vectors that are rejected, each with the one error name every conforming
decoder reports. Imported by make_vectors.py (names come from there)."""


def build(g):
    globals().update(g)
    O = offer_frame(OFFER, 1)

    # ---- framing ----------------------------------------------------------
    add("frame-truncated-in-header", "Input ends after the framing byte", ["FRAME-4"], D_OFFER, "offer",
        O[:1], "TRUNCATED")
    add("frame-truncated-in-length", "Input ends inside the 4-byte length", ["FRAME-4"], D_OFFER, "offer",
        O[:3], "TRUNCATED")
    add("frame-truncated-after-header", "Header complete, no body byte", ["FRAME-4"], D_OFFER, "offer",
        O[:5], "TRUNCATED")
    add("frame-truncated-in-body", "Input ends inside the body", ["FRAME-4"], D_OFFER, "offer",
        O[:len(O) - 3], "TRUNCATED")
    add("frame-truncated-hello-last-byte", "Hello missing its last body byte", ["FRAME-4"], D_HELLO, "hello",
        hello_frame(HELLO)[:-1], "TRUNCATED")
    add("framing-version-0", "Framing byte 0", ["FRAME-2"], D_OFFER, "offer", b"\x00" + O[1:],
        "FRAMING_VERSION")
    add("framing-version-2", "Framing byte 2 with an otherwise valid frame", ["FRAME-2"], D_HELLO, "hello",
        b"\x02" + hello_frame(HELLO)[1:], "FRAMING_VERSION")
    add("framing-version-only-byte", "A single wrong framing byte: rejected without the rest",
        ["FRAME-2"], D_ACK, "ack", b"\xff", "FRAMING_VERSION")
    add("framing-version-before-length", "Wrong framing byte and a huge length: the version is checked first",
        ["FRAME-2", "FRAME-3"], D_ACK, "ack", b"\x02\xff\xff\xff\xff", "FRAMING_VERSION")
    add("frame-too-large-offer", "Offer header announcing 16 MiB + 1, no body", ["FRAME-3"], D_OFFER, "offer",
        frame(b"", length=16 * 1024 * 1024 + 1), "FRAME_TOO_LARGE")
    add("frame-too-large-u32-max", "ACK header announcing 2^32-1 bytes, no body", ["FRAME-3"], D_ACK, "ack",
        frame(b"", length=0xFFFFFFFF), "FRAME_TOO_LARGE")
    add("frame-too-large-hello", "Hello header announcing 64 KiB + 1, no body", ["FRAME-3", "FRAME-5"],
        D_HELLO, "hello", frame(b"", length=65537), "FRAME_TOO_LARGE")
    add("frame-hello-reply-above-hello-cap", "HelloReply header announcing 64 KiB + 1: within its 16 MiB cap, so the missing body is TRUNCATED",
        ["FRAME-3", "FRAME-4"], D_REPLY, "hello_reply", frame(b"", length=65537), "TRUNCATED")
    add("frame-empty-body", "A frame with an empty body: envelope_version 0", ["FRAME-1", "ENV-4"],
        D_OFFER, "offer", frame(b""), "ENVELOPE_VERSION")

    # ---- envelope -----------------------------------------------------------
    add("envelope-version-2", "envelope_version 2", ["ENV-4"], D_OFFER, "offer",
        frame(env(OFFER, REQ, P_HANDOFF, 1, ver=2)), "ENVELOPE_VERSION")
    add("envelope-order-version-first", "Wrong version, kind, protocol and encoding: the version is reported",
        ["ENV-4"], D_OFFER, "offer", frame(env(OFFER, 9, 0x1234, 1, enc=1, ver=0)), "ENVELOPE_VERSION")
    add("envelope-unknown-kind", "kind 7 (not a FrameKind)", ["ENV-4"], D_OFFER, "offer",
        frame(env(OFFER, 7, P_HANDOFF, 1)), "UNKNOWN_KIND")
    add("envelope-order-kind-before-protocol", "Unknown kind 4 and a wrong payload protocol: the kind is reported",
        ["ENV-4"], D_ACK, "ack", frame(env(ACK, 4, 0x0000, 1)), "UNKNOWN_KIND")
    add("envelope-wrong-kind-offer", "Offer sent as RESPONSE", ["ENV-4"], D_OFFER, "offer",
        frame(env(OFFER, RESP, P_HANDOFF, 1)), "WRONG_KIND")
    add("envelope-cancel-kind", "Frame of kind CANCEL where an ACK is expected", ["ENV-2", "ENV-4"], D_ACK, "ack",
        frame(env(ACK, 3, P_HANDOFF, 1)), "WRONG_KIND")
    add("envelope-ready-as-response", "Ready payload sent as RESPONSE instead of EVENT", ["ENV-4"],
        "backend->client", "ready", ack_frame(ACK, 1), "WRONG_KIND")
    add("envelope-ack-as-event", "ACK sent as EVENT", ["ENV-4"], D_ACK, "ack", ready_frame(ACK, 1), "WRONG_KIND")
    add("envelope-hello-on-handoff-protocol", "Hello with payload_protocol 0xD0FF", ["ENV-4"], D_HELLO, "hello",
        frame(env(HELLO, REQ, P_HANDOFF)), "PAYLOAD_PROTOCOL")
    add("envelope-offer-on-hello-protocol", "Offer with payload_protocol 0x0000 (field omitted)", ["ENV-4"],
        D_OFFER, "offer", frame(env(OFFER, REQ, P_HELLO, 1)), "PAYLOAD_PROTOCOL")
    add("envelope-order-protocol-before-encoding", "Admin payload protocol and ZSTD: the protocol is reported",
        ["ENV-4"], D_ACK, "ack", frame(env(ACK, RESP, 0xAD01, 1, enc=1)), "PAYLOAD_PROTOCOL")
    for enc, name in ((1, "zstd"), (2, "snappy"), (3, "lz4")):
        add("envelope-compressed-" + name, "payload_encoding %s (%d)" % (name.upper(), enc), ["ENV-5"],
            D_OFFER, "offer", frame(env(OFFER, REQ, P_HANDOFF, 1, enc=enc)), "PAYLOAD_COMPRESSED")
    add("envelope-unknown-encoding", "payload_encoding 4 (not a PayloadEncoding)", ["ENV-5"], D_ACK, "ack",
        frame(env(ACK, RESP, P_HANDOFF, 1, enc=4)), "UNKNOWN_ENCODING")
    add("envelope-request-id-mismatch-offer", "Offer whose request_id (2) differs from correlation_id (1)",
        ["ENV-7"], D_OFFER, "offer", offer_frame(OFFER, 2), "REQUEST_ID_MISMATCH")
    add("envelope-request-id-mismatch-ack", "ACK whose request_id is 0, correlation_id 1", ["ENV-7"],
        D_ACK, "ack", ack_frame(ACK, 0), "REQUEST_ID_MISMATCH")
    add("envelope-request-id-mismatch-ready", "Ready whose request_id differs from correlation_id", ["ENV-7"],
        "backend->client", "ready", ready_frame(ACK, 9), "REQUEST_ID_MISMATCH")
    add("envelope-traceparent-too-long", "traceparent of 129 bytes", ["MSG-6", "ENV-4"], D_HELLO, "hello",
        hello_frame(HELLO, tp="t" * 129), "STRING_TOO_LONG")
    add("envelope-tracestate-too-long", "tracestate of 513 bytes", ["MSG-6"], D_HELLO, "hello",
        hello_frame(HELLO, ts="s" * 513), "STRING_TOO_LONG")
    add("envelope-traceparent-invalid-utf8", "traceparent with a lone continuation byte", ["MSG-7"],
        D_ACK, "ack", frame(env(ACK, RESP, P_HANDOFF, 1) + fb(8, b"00-\x80")), "STRING_INVALID")
    add("envelope-malformed-before-version", "Body error is reported before the envelope checks",
        ["ENV-4", "MSG-10"], D_OFFER, "offer", frame(fv(1, 2) + b"\x22\x05ab"), "MALFORMED")

    # ---- tokens ---------------------------------------------------------------
    for n in (0, 15, 17):
        body = ser("HandoffOffer", service_name="echo", correlation_id=1) + (fb(2, bytes(n)) if n else b"")
        add("offer-token-%d" % n, "Offer token of %d bytes" % n, ["MSG-8"], D_OFFER, "offer",
            offer_frame(body, 1), "TOKEN_LENGTH")
        body = (fb(1, bytes(n)) if n else b"") + fv(2, 1) + fv(4, 1)
        add("ack-token-%d" % n, "ACK token of %d bytes" % n, ["MSG-8"], D_ACK, "ack", ack_frame(body, 1),
            "TOKEN_LENGTH")
    add("offer-token-explicit-empty", "Offer token explicitly present with length 0", ["MSG-8"], D_OFFER,
        "offer", offer_frame(fv(1, 0) + fb(2, b"") + fv(4, 1), 1), "TOKEN_LENGTH")
    add("offer-token-17-then-16", "A 17-byte token occurrence followed by a valid one: any over-long occurrence is rejected",
        ["MSG-8", "MSG-6"], D_OFFER, "offer", offer_frame(fb(2, bytes(17)) + OFFER, 1), "TOKEN_LENGTH")
    add("offer-token-16-then-15", "A valid token followed by a 15-byte one: the last occurrence counts",
        ["MSG-2", "MSG-8"], D_OFFER, "offer", offer_frame(OFFER + fb(2, T[:15]), 1), "TOKEN_LENGTH")
    add("ready-token-15", "Ready frame with a 15-byte token", ["MSG-8"], "backend->client", "ready",
        ready_frame(fb(1, T[:15]) + fv(2, 1) + fv(4, 1), 1), "TOKEN_LENGTH")
    add("negotiated-token-15", "handle_passed_token of 15 bytes", ["MSG-8"], D_REPLY, "hello_reply",
        reply_frame(fb(1, fb(3, "/run/e.sock") + fb(7, T[:15]))), "TOKEN_LENGTH")
    add("negotiated-token-17", "handle_passed_token of 17 bytes", ["MSG-8"], D_REPLY, "hello_reply",
        reply_frame(fb(1, fb(3, "/run/e.sock") + fb(7, bytes(17)))), "TOKEN_LENGTH")

    # ---- string caps (one per capped field class) -----------------------------
    caps = [("hello", 3, 64, "service_name"), ("hello", 4, 64, "wanted_version"),
            ("hello", 5, 128, "client_version"), ("hello", 8, 128, "request_id"),
            ("hello", 11, 64, "client_lib_name"), ("hello", 12, 64, "client_lib_version")]
    for _, num, cap, name in caps:
        add("hello-%s-too-long" % name.replace("_", "-"), "Hello.%s of %d bytes" % (name, cap + 1),
            ["MSG-6"], D_HELLO, "hello", hello_frame(HELLO + fb(num, "x" * (cap + 1))), "STRING_TOO_LONG")
    for num, name in ((7, "auth_token"), (13, "peer_attestation_nonce"), (14, "capability_token")):
        add("hello-%s-too-long" % name.replace("_", "-"), "Hello.%s of 257 bytes" % name, ["MSG-6"],
            D_HELLO, "hello", hello_frame(HELLO + fb(num, bytes(257))), "STRING_TOO_LONG")
    add("hello-too-long-in-overridden-occurrence", "An over-long service_name later overridden by a valid one",
        ["MSG-6", "MSG-2"], D_HELLO, "hello", hello_frame(fb(3, "x" * 65) + HELLO), "STRING_TOO_LONG")
    add("negotiated-backend-pipe-too-long", "Negotiated.backend_pipe of 257 bytes", ["MSG-6"], D_REPLY,
        "hello_reply", reply_frame(fb(1, fb(3, "/" * 257))), "STRING_TOO_LONG")
    add("negotiated-daemon-version-too-long", "Negotiated.daemon_version of 129 bytes", ["MSG-6"], D_REPLY,
        "hello_reply", reply_frame(fb(1, fb(2, "9" * 129))), "STRING_TOO_LONG")
    add("negotiated-warning-too-long", "A warning of 257 bytes", ["MSG-6"], D_REPLY, "hello_reply",
        reply_frame(fb(1, fb(3, "/run/e.sock") + fb(4, "w" * 257))), "STRING_TOO_LONG")
    add("refused-reason-too-long", "Refused.reason of 257 bytes", ["MSG-6"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fb(1, "r" * 257))), "STRING_TOO_LONG")
    add("refused-detail-key-too-long", "A details key of 65 bytes", ["MSG-6"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fb(5, fb(1, "k" * 65) + fb(2, "v")))), "STRING_TOO_LONG")
    add("refused-detail-value-too-long", "A details value of 257 bytes", ["MSG-6"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fb(5, fb(1, "k") + fb(2, "v" * 257)))), "STRING_TOO_LONG")
    add("offer-service-name-too-long", "HandoffOffer.service_name of 65 bytes", ["MSG-6"], D_OFFER, "offer",
        offer_frame(OFFER + fb(3, "s" * 65), 1), "STRING_TOO_LONG")
    add("offer-reply-too-long", "HandoffOffer.reply_adopted of REPLY_MAX + 1 (4097) bytes", ["MSG-6"],
        D_OFFER, "offer", offer_frame(OFFER + fb(12, b"\x01" * 4097), 1), "STRING_TOO_LONG")
    add("offer-reply-declined-as-varint", "HandoffOffer.reply_declined (bytes) sent as a varint", ["MSG-5"],
        D_OFFER, "offer", offer_frame(OFFER + fv(13, 1), 1), "WIRE_TYPE")
    add("ack-error-detail-too-long", "HandoffAck.error_detail of 257 bytes", ["MSG-6"], D_ACK, "ack",
        ack_frame(ACK + fb(3, "e" * 257), 1), "STRING_TOO_LONG")

    # ---- string validity --------------------------------------------------------
    bad_utf8 = [("lone-continuation", b"ech\x80"), ("overlong-nul", b"\xc0\x80"),
                ("surrogate", b"\xed\xa0\x80"), ("above-max", b"\xf4\x90\x80\x80"),
                ("truncated-sequence", b"echo\xe2\x82"), ("invalid-byte", b"\xff")]
    for name, raw in bad_utf8:
        add("hello-service-name-utf8-" + name, "service_name with invalid UTF-8 (%s)" % name, ["MSG-7"],
            D_HELLO, "hello", hello_frame(fv(1, 1) + fb(3, raw)), "STRING_INVALID")
    add("hello-service-name-nul", "service_name containing a 00 byte", ["MSG-7"], D_HELLO, "hello",
        hello_frame(fb(3, b"ec\x00ho")), "STRING_INVALID")
    add("ack-error-detail-invalid-utf8", "error_detail with invalid UTF-8", ["MSG-7"], D_ACK, "ack",
        ack_frame(ACK + fb(3, b"bad \xfe"), 1), "STRING_INVALID")
    add("refused-detail-value-invalid-utf8", "A details value with invalid UTF-8 (inside the map entry)",
        ["MSG-7", "MSG-10"], D_REPLY, "hello_reply", reply_frame(fb(2, fb(5, fb(1, "k") + fb(2, b"\xc3")))),
        "STRING_INVALID")

    # ---- item caps ---------------------------------------------------------------
    add("negotiated-too-many-warnings", "9 warnings", ["MSG-9"], D_REPLY, "hello_reply",
        reply_frame(fb(1, b"".join(fb(4, "w") for _ in range(9)))), "TOO_MANY_ITEMS")
    add("refused-too-many-details", "9 details entries", ["MSG-9"], D_REPLY, "hello_reply",
        reply_frame(fb(2, b"".join(fb(5, fb(1, "k%d" % i)) for i in range(9)))), "TOO_MANY_ITEMS")
    add("refused-too-many-details-repeated-key", "9 details entries with the same key: counted per occurrence",
        ["MSG-9"], D_REPLY, "hello_reply",
        reply_frame(fb(2, b"".join(fb(5, fb(1, "k") + fb(2, str(i))) for i in range(9)))), "TOO_MANY_ITEMS")

    add("hello-reply-merged-too-many-warnings", "negotiated twice with 5 + 4 warnings: the merged field exceeds 8 at the 9th",
        ["MSG-2", "MSG-9", "MSG-15"], D_REPLY, "hello_reply",
        reply_frame(fb(1, b"".join(fb(4, "a") for _ in range(5))) + fb(1, b"".join(fb(4, "b") for _ in range(4)))),
        "TOO_MANY_ITEMS")
    add("hello-reply-merged-token-15", "negotiated twice: a 16-byte token, then a 15-byte one (the merged final value)",
        ["MSG-2", "MSG-8"], D_REPLY, "hello_reply",
        reply_frame(fb(1, fb(3, "/e") + fb(7, T)) + fb(1, fb(7, T[:15]))), "TOKEN_LENGTH")
    add("hello-reply-error-order", "A too-long reason in refused, then a malformed negotiated: the first defect in stream order",
        ["MSG-15"], D_REPLY, "hello_reply", reply_frame(fb(2, fb(1, "r" * 257)) + fb(1, b"\x1a\x09ab")),
        "STRING_TOO_LONG")
    add("refused-items-cap-before-contents", "The 9th details entry is itself invalid: the item cap is reported (MSG-15)",
        ["MSG-9", "MSG-15"], D_REPLY, "hello_reply",
        reply_frame(fb(2, b"".join(fb(5, fb(1, "k%d" % i)) for i in range(8)) + fb(5, fb(1, b"\xff")))),
        "TOO_MANY_ITEMS")
    add("offer-token-final-check-last", "A 15-byte token (final value) and a later malformed field: MALFORMED, the token check comes last",
        ["MSG-8", "MSG-15"], D_OFFER, "offer", frame(env(fb(2, T[:15]) + fv(4, 1) + b"\x1a\x09ab", REQ, P_HANDOFF, 1)),
        "MALFORMED")

    # ---- the order of checks within one field (MSG-17) --------------------------------
    add("msg-order-ninth-item-runs-past-end", "The 9th warning's length runs past the end of its message: its extent is checked before the item cap",
        ["MSG-17", "MSG-9", "MSG-10"], D_REPLY, "hello_reply",
        reply_frame(fb(1, b"".join(fb(4, "w") for _ in range(8)) + b"\x22\x0aw")), "MALFORMED")
    add("msg-order-overcap-string-runs-past-end", "service_name announcing 65 bytes (over its cap) with 10 present: the extent first",
        ["MSG-17", "MSG-6", "MSG-10"], D_HELLO, "hello", hello_frame(b"\x1a\x41" + b"e" * 10), "MALFORMED")
    add("msg-order-overcap-before-utf8", "service_name of 65 bytes that are not UTF-8: the cap before the content",
        ["MSG-17", "MSG-6", "MSG-7"], D_HELLO, "hello", hello_frame(fb(3, b"\xff" * 65)), "STRING_TOO_LONG")
    add("msg-order-wire-type-before-extent", "service_name as a 32-bit field with only 2 bytes left: the wire type first",
        ["MSG-17", "MSG-5"], D_HELLO, "hello", hello_frame(b"\x1d\x01\x02"), "WIRE_TYPE")

    # ---- wire types ----------------------------------------------------------------
    add("offer-token-as-varint", "Offer token sent with wire type varint", ["MSG-5"], D_OFFER, "offer",
        offer_frame(fv(2, 16) + fv(4, 1), 1), "WIRE_TYPE")
    add("envelope-version-as-bytes", "envelope_version sent length-delimited", ["MSG-5"], D_ACK, "ack",
        frame(fb(1, b"\x01") + fv(2, 1) + fv(3, P_HANDOFF) + fb(4, ACK) + fv(5, 1)), "WIRE_TYPE")
    add("envelope-payload-as-fixed64", "payload sent as a 64-bit field", ["MSG-5"], D_HELLO, "hello",
        frame(fv(1, 1) + fx64(4, 0)), "WIRE_TYPE")
    add("ack-accepted-as-fixed32", "accepted sent as a 32-bit field", ["MSG-5"], D_ACK, "ack",
        ack_frame(fb(1, T) + fx32(2, 1) + fv(4, 1), 1), "WIRE_TYPE")
    add("hello-reply-negotiated-as-varint", "HelloReply.negotiated sent as a varint", ["MSG-5"], D_REPLY,
        "hello_reply", reply_frame(fv(1, 1)), "WIRE_TYPE")
    add("hello-service-name-as-fixed32", "service_name sent as a 32-bit field", ["MSG-5"], D_HELLO, "hello",
        hello_frame(fx32(3, 0x6f686365)), "WIRE_TYPE")

    # ---- malformed protobuf ------------------------------------------------------------
    add("envelope-ends-inside-varint", "Frame body ends inside a varint (request_id)", ["MSG-10"], D_OFFER,
        "offer", frame(env(OFFER, REQ, P_HANDOFF) + b"\x28\xff"), "MALFORMED")
    add("envelope-ends-after-tag", "Frame body ends right after a varint field's tag: the value has no byte",
        ["MSG-10"], D_OFFER, "offer", frame(b"\x08"), "MALFORMED")
    add("envelope-ends-inside-tag", "Frame body ends inside a 2-byte tag", ["MSG-10"], D_OFFER, "offer",
        frame(env(OFFER, REQ, P_HANDOFF, 1) + b"\x80"), "MALFORMED")
    add("envelope-ends-inside-length", "Frame body ends inside the payload's length prefix", ["MSG-10"],
        D_OFFER, "offer", frame(fv(1, 1) + b"\x22\x80"), "MALFORMED")
    add("envelope-ends-inside-payload", "payload's length runs past the end of the body", ["MSG-10"], D_OFFER,
        "offer", frame(fv(1, 1) + fv(3, P_HANDOFF) + b"\x22\x40" + OFFER), "MALFORMED")
    add("offer-ends-inside-varint", "Offer payload ends inside correlation_id's varint", ["MSG-10"], D_OFFER,
        "offer", frame(env(fb(2, T) + b"\x20\x81", REQ, P_HANDOFF, 1)), "MALFORMED")
    add("offer-ends-inside-token", "Offer payload ends inside the token field", ["MSG-10"], D_OFFER, "offer",
        frame(env(b"\x12\x10" + T[:8], REQ, P_HANDOFF, 0)), "MALFORMED")
    add("hello-varint-11-bytes", "A varint that does not end within 10 bytes", ["MSG-4", "MSG-10"], D_HELLO,
        "hello", hello_frame(b"\x30" + b"\xff" * 10 + b"\x01"), "MALFORMED")
    add("hello-field-number-0", "Field number 0", ["MSG-10"], D_HELLO, "hello", hello_frame(b"\x00\x01"),
        "MALFORMED")
    for wt in (3, 4, 6, 7):
        add("hello-wire-type-%d" % wt, "Unknown field 20 with wire type %d" % wt, ["MSG-10"], D_HELLO, "hello",
            hello_frame(HELLO + tag(20, wt) + b"\x00"), "MALFORMED")
    add("hello-known-field-group", "Known field (service_name) with the start-group wire type", ["MSG-10"],
        D_HELLO, "hello", hello_frame(tag(3, 3) + tag(3, 4)), "MALFORMED")
    add("hello-payload-garbage", "Hello payload that is not protobuf", ["MSG-10"], D_HELLO, "hello",
        hello_frame(b"\xff\xff"), "MALFORMED")
    add("hello-reply-negotiated-malformed", "An embedded Negotiated that is itself truncated", ["MSG-10"],
        D_REPLY, "hello_reply", reply_frame(fb(1, b"\x1a\x05ab")), "MALFORMED")
    add("offer-fixed64-truncated", "Unknown 64-bit field with 4 bytes left", ["MSG-10"], D_OFFER, "offer",
        frame(env(OFFER + tag(14, 1) + b"\x00" * 4, REQ, P_HANDOFF, 1)), "MALFORMED")
    add("hello-varint-10th-byte-overflow", "A 10-byte varint whose last byte carries bits beyond 64 (as the original's prost decoder, Go and nanopb: rejected)",
        ["MSG-4", "MSG-10"], D_HELLO, "hello", hello_frame(b"\x30" + b"\xff" * 9 + b"\x02"), "MALFORMED")
    add("hello-tag-6-bytes", "A tag varint padded to 6 bytes: tags and length prefixes are 32-bit varints of at most 5 bytes (as Google's protobuf and protobuf-c read them)",
        ["MSG-4", "MSG-10"], D_HELLO, "hello", hello_frame(tag(10, 0, width=6) + b"\x01"), "MALFORMED")
    add("envelope-length-6-bytes", "The payload's length prefix padded to 6 bytes (at most 5)",
        ["MSG-4", "MSG-10"], D_HELLO, "hello", frame(fv(1, 1) + tag(4, 2) + varint(len(HELLO), width=6) + HELLO),
        "MALFORMED")

    add("hello-field-number-too-large", "Field number 2^29 (tag above 2^32-1)", ["MSG-10"], D_HELLO, "hello",
        hello_frame(varint(1 << 32) + b"\x01"), "MALFORMED")
