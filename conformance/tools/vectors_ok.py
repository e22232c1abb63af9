"""Vectors that decode: typical, minimal, maximal, and every tolerated
non-canonical form. Imported by make_vectors.py (names come from there)."""


def build(g):
    globals().update(g)

    # ---- Hello ----------------------------------------------------------
    add("hello-typical", "Hello for service echo, protocol 1..1, CAP_HANDLE_PASSING (spec example)",
        ["FRAME-1", "ENV-1", "ENV-4"], D_HELLO, "hello", hello_frame(HELLO))
    add("hello-minimal", "Hello with every field at its default: empty payload, omitted from the envelope",
        ["FRAME-1", "ENV-1", "MSG-3"], D_HELLO, "hello", hello_frame(b""))
    hello_max = ser("Hello", client_min_protocol=U32, client_max_protocol=U32,
                    service_name="a" * 64, wanted_version="1.2.3-" + "x" * 58,
                    client_version="v" * 128, client_capabilities=U64, auth_token=b"\xa5" * 256,
                    request_id="r" * 128, connection_id=U64, peer_pid=U32,
                    client_lib_name="n" * 64, client_lib_version="m" * 64,
                    peer_attestation_nonce=b"\x5a" * 256, capability_token=b"\xff" * 256,
                    client_keepalive_secs=U64)
    add("hello-maximal", "Hello with every field at its cap or maximum, envelope trace fields at their caps",
        ["MSG-6", "ENV-10"], D_HELLO, "hello",
        hello_frame(hello_max, deadline=U64, tp="t" * 128, ts="s" * 512))
    add("hello-utf8-multibyte", "Strings with 2-, 3- and 4-byte UTF-8 sequences and a 64-byte multibyte service_name",
        ["MSG-7"], D_HELLO, "hello",
        hello_frame(ser("Hello", client_min_protocol=1, client_max_protocol=1, service_name="echo",
                        client_version="gr\u00fc\u00dfe \u20ac \U0001f600",
                        client_lib_name="\u00e9" * 32, request_id="id-\u4e2d")))
    explicit = (fv(1, 0) + fv(2, 0) + fb(3, b"") + fb(4, b"") + fb(5, b"") + fv(6, 0) + fb(7, b"")
                + fb(8, b"") + fv(9, 0) + fv(10, 0) + fb(11, b"") + fb(12, b"") + fb(13, b"")
                + fb(14, b"") + fv(15, 0))
    add("hello-explicit-defaults", "Every Hello field explicitly encoded with its default value",
        ["MSG-3"], D_HELLO, "hello", hello_frame(explicit), canonical=False)
    unknown = (HELLO + fv(16, 5) + fx64(17, 0x1122334455667788) + fb(20, b"\x00\xffxyz")
               + fx32(99, 7) + fv(536870911, 1) + fb(1000, b""))
    add("hello-unknown-fields", "Hello followed by unknown fields of every wire type, reserved numbers and the largest field number",
        ["MSG-1"], D_HELLO, "hello", hello_frame(unknown), canonical=False)
    nonmin = (fv(1, 1, width=5) + fv(2, 1, width=10) + fb(3, "echo") + fv(6, 1, width=10)
              + tag(10, 0, width=2) + varint(4242, width=3))
    add("hello-nonminimal-varints", "Non-minimal varints: padded to 5 and 10 bytes, and a 2-byte tag",
        ["MSG-4"], D_HELLO, "hello", hello_frame(nonmin), canonical=False)
    add("hello-tag-and-length-5-bytes", "A tag and a length prefix padded to 5 bytes, the longest accepted",
        ["MSG-4"], D_HELLO, "hello",
        frame(fv(1, 1) + tag(4, 2, width=5) + varint(len(HELLO), width=5) + HELLO), canonical=False)
    lastwins = (fb(3, "first") + fv(10, 1) + HELLO + fv(10, 99) + fb(3, "echo"))
    add("hello-last-one-wins", "service_name and peer_pid occur twice: the last occurrence wins",
        ["MSG-2"], D_HELLO, "hello", hello_frame(lastwins), canonical=False)
    wide = fv(1, 1) + fv(2, (1 << 32) | 1) + fb(3, "echo") + fv(10, (7 << 40) | 4242)
    add("hello-uint32-wide-varint", "uint32 fields carried in varints above 2^32-1: the low 32 bits count",
        ["MSG-11"], D_HELLO, "hello", hello_frame(wide), canonical=False)
    pad_body = env(HELLO)
    pad = 65536 - len(pad_body)
    # unknown envelope field 16 filling the body to exactly 64 KiB
    filler_len = pad - 2 - 3   # tag 0x82 0x01 (field 16, wt 2) + 3-byte length
    padded = pad_body + tag(16, 2) + varint(filler_len) + b"\x00" * filler_len
    assert len(padded) == 65536, len(padded)
    add("hello-body-at-cap", "Hello frame whose body is exactly 64 KiB (an unknown envelope field pads it)",
        ["FRAME-3", "FRAME-5", "MSG-1"], D_HELLO, "hello", frame(padded), canonical=False)
    add("hello-request-id-ignored", "Hello frame with a non-zero request_id: decoded, the receiver ignores it",
        ["ENV-10"], D_HELLO, "hello", hello_frame(HELLO, rid=77))

    # ---- HelloReply -----------------------------------------------------
    add("hello-reply-negotiated-typical", "Negotiated with a token and CAP_HANDLE_PASSING",
        ["ENV-1"], D_REPLY, "hello_reply", reply_frame(M["HelloReply"](negotiated=NEG).SerializeToString(deterministic=True)))
    add("hello-reply-negotiated-minimal", "Negotiated with every field at its default (payload 0a 00)",
        ["MSG-3"], D_REPLY, "hello_reply", reply_frame(b"\x0a\x00"))
    neg_max = M["Negotiated"](negotiated_protocol=U32, daemon_version="d" * 128,
                              backend_pipe="/" + "p" * 255, warnings=["w%d" % i + "x" * 254 for i in range(8)],
                              server_capabilities=U64, keepalive_interval_secs=U64,
                              handle_passed_token=T2, connection_id=U64)
    add("hello-reply-negotiated-maximal", "Negotiated with every string at its cap and 8 warnings of 256 bytes",
        ["MSG-6", "MSG-9"], D_REPLY, "hello_reply",
        reply_frame(M["HelloReply"](negotiated=neg_max).SerializeToString(deterministic=True)))
    add("hello-reply-negotiated-no-token", "Negotiated for a fallback: backend_pipe only, no token",
        ["MSG-8"], D_REPLY, "hello_reply",
        reply_frame(M["HelloReply"](negotiated=M["Negotiated"](
            negotiated_protocol=1, backend_pipe="/run/handoff/echo.sock", connection_id=8)).SerializeToString(deterministic=True)))
    add("hello-reply-negotiated-empty-token", "handle_passed_token explicitly present and empty: no token",
        ["MSG-3", "MSG-8"], D_REPLY, "hello_reply",
        reply_frame(fb(1, fv(1, 1) + fb(3, "/run/e.sock") + fb(7, b""))), canonical=False)
    ref = M["Refused"](reason="SERVICE_NAME", daemon_min_protocol=1, daemon_max_protocol=1, code=2)
    ref.details["service"] = "Echo!"
    add("hello-reply-refused-typical", "Refused{ERROR_SERVICE_UNKNOWN} with one detail",
        ["ENV-1"], D_REPLY, "hello_reply", reply_frame(M["HelloReply"](refused=ref).SerializeToString(deterministic=True)))
    ref_max = M["Refused"](reason="r" * 256, daemon_min_protocol=U32, daemon_max_protocol=U32, code=9,
                           retry_after_ms=U64)
    for i in range(8):
        ref_max.details["k%d" % i + "k" * 62] = "v" * 256
    add("hello-reply-refused-maximal", "Refused with 8 details of maximal key and value, everything else at its maximum",
        ["MSG-6", "MSG-9"], D_REPLY, "hello_reply", reply_frame(M["HelloReply"](refused=ref_max).SerializeToString(deterministic=True)))
    add("hello-reply-refused-unknown-code", "Refused with an ErrorCode value the schema does not name (open enum)",
        ["MSG-11"], D_REPLY, "hello_reply", reply_frame(fb(2, fb(1, "later") + fv(4, 42))))
    add("hello-reply-refused-code-high", "Refused.code 2^32-1 in a 5-byte varint: kept as its 32 bits (protobuf reads it as int32 -1)",
        ["MSG-11"], D_REPLY, "hello_reply", reply_frame(fb(2, fv(4, 0xFFFFFFFF))), canonical=False)
    add("hello-reply-empty", "HelloReply with neither member: decodes (the client rejects it)",
        ["MSG-16"], D_REPLY, "hello_reply", reply_frame(b""))
    add("hello-reply-oneof-last-wins", "negotiated then refused: the last member present decides",
        ["MSG-2"], D_REPLY, "hello_reply",
        reply_frame(fb(1, NEG.SerializeToString(deterministic=True)) + fb(2, fb(1, "RATE_LIMITED") + fv(4, 4) + fv(6, 250))),
        canonical=False)
    n1 = fb(3, "/run/e.sock") + fb(4, "w1") + fb(4, "w2") + fb(7, T[:15]) + fv(8, 5)
    n2 = fb(4, "w3") + fb(7, T) + fv(1, 1) + fv(8, 6)
    add("hello-reply-negotiated-merged", "negotiated occurs twice: merged as protobuf merges messages (scalars and the token: last wins; warnings: appended)",
        ["MSG-2", "MSG-8"], D_REPLY, "hello_reply", reply_frame(fb(1, n1) + fb(1, n2)), canonical=False)
    add("hello-reply-refused-merged", "refused occurs twice: reason kept, details merged (a repeated key keeps its last value)",
        ["MSG-2"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fb(1, "first") + fv(4, 6) + fb(5, fb(1, "a") + fb(2, "1")) + fb(5, fb(1, "b") + fb(2, "2")))
                    + fb(2, fb(5, fb(1, "a") + fb(2, "3")) + fv(6, 9))), canonical=False)
    five = b"".join(fb(4, "w%d" % i) for i in range(5))
    add("hello-reply-oneof-switch-back", "negotiated, refused, negotiated: only the last run of the member counts (no merge across the switch)",
        ["MSG-2", "MSG-9"], D_REPLY, "hello_reply",
        reply_frame(fb(1, five + fb(3, "/old")) + fb(2, fb(1, "x")) + fb(1, five + fv(1, 1))), canonical=False)
    add("hello-reply-details-repeated-key", "A map key occurring twice: the last value wins",
        ["MSG-2"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fv(4, 6) + fb(5, fb(1, "a") + fb(2, "1")) + fb(5, fb(1, "b") + fb(2, "2"))
                       + fb(5, fb(1, "a") + fb(2, "3")))), canonical=False)
    add("hello-reply-details-unsorted", "Map entries out of key order (our encoders write them sorted)",
        ["MSG-2"], D_REPLY, "hello_reply",
        reply_frame(fb(2, fb(5, fb(1, "zeta") + fb(2, "1")) + fb(5, fb(1, "alpha") + fb(2, "2")))),
        canonical=False)

    # ---- HandoffOffer ---------------------------------------------------
    add("offer-typical", "Unix offer: token, service echo, correlation id 1, handle_value 0 omitted",
        ["ENV-1", "ENV-7"], D_OFFER, "offer", offer_frame(OFFER, 1))
    orig = bytes.fromhex("0800") + OFFER
    add("offer-original-unix-0800", "Unix offer as the original broker writes it: explicit 08 00 prefix (spec example)",
        ["MSG-3", "ENV-7"], D_OFFER, "offer", offer_frame(orig, 1), canonical=False)
    add("offer-windows-handle", "Windows offer carrying the duplicated HANDLE value",
        ["ENV-7"], D_OFFER, "offer",
        offer_frame(ser("HandoffOffer", handle_value=0x1A4, token=T, service_name="echo",
                        correlation_id=2), 2))
    add("offer-original-windows-prefix", "Original Windows offer: 08 <handle> prefix then a handle_value-0 encoding",
        ["MSG-2", "MSG-3"], D_OFFER, "offer", offer_frame(fv(1, 0x1A4) + OFFER, 1), canonical=False)
    add("offer-maximal", "Offer with every field at its maximum and the envelope trace fields at their caps",
        ["MSG-6", "ENV-10"], D_OFFER, "offer",
        offer_frame(ser("HandoffOffer", handle_value=U64, token=b"\xff" * 16, service_name="s" * 64,
                        correlation_id=U64, offer_flags=U64), U64, tp="t" * 128, ts="s" * 512))
    add("offer-minimal", "The smallest valid offer: only the token (correlation id 0 is a handoff-level matter)",
        ["MSG-8"], D_OFFER, "offer", offer_frame(ser("HandoffOffer", token=T), 0))
    # Coalesced mode (1.0.0-rc2): the two HelloReply frames ride in the offer.
    neg_c = M["Negotiated"](negotiated_protocol=1, daemon_version="0.1.0",
                            backend_pipe="/run/handoff/echo.sock", server_capabilities=15,
                            keepalive_interval_secs=1800, handle_passed_token=T, connection_id=7)
    neg_d = M["Negotiated"](negotiated_protocol=1, daemon_version="0.1.0",
                            backend_pipe="/run/handoff/echo.sock", server_capabilities=12,
                            keepalive_interval_secs=1800, connection_id=7)
    rep_a = reply_frame(M["HelloReply"](negotiated=neg_c).SerializeToString(deterministic=True))
    rep_d = reply_frame(M["HelloReply"](negotiated=neg_d).SerializeToString(deterministic=True))
    add("offer-coalesced", "Coalesced offer: OFFER_FLAG_BACKEND_READY | OFFER_FLAG_COALESCED_REPLY, "
        "reply_adopted (Negotiated with the token, caps HP|BR|ED|CR) and reply_declined (no token, ED|CR)",
        ["READY-26", "CAP-12", "ENV-9"], D_OFFER, "offer",
        offer_frame(ser("HandoffOffer", token=T, service_name="echo", correlation_id=7, offer_flags=3,
                        reply_adopted=rep_a, reply_declined=rep_d), 7, deadline=1795000000000))
    add("offer-reply-at-cap", "Coalesced offer whose reply_adopted is exactly REPLY_MAX (4096) bytes: "
        "accepted by the decoder (the backend's READY-29 frame check is another layer)",
        ["MSG-6"], D_OFFER, "offer",
        offer_frame(ser("HandoffOffer", token=T, service_name="echo", correlation_id=7, offer_flags=3,
                        reply_adopted=b"\x01" * 4096), 7))
    add("hello-reply-negotiated-coalesced", "Negotiated as a coalesced offer carries it: token and "
        "CAP_COALESCED_REPLY (bit 3) with HP, BR and ED", ["CAP-12", "READY-26"], D_REPLY, "hello_reply",
        rep_a)
    add("offer-backend-ready", "Backend-ready offer: OFFER_FLAG_BACKEND_READY and the ready deadline in deadline_unix_ms",
        ["ENV-9"], D_OFFER, "offer",
        offer_frame(ser("HandoffOffer", token=T, service_name="echo", correlation_id=3, offer_flags=1),
                    3, deadline=1795000000000))
    # Field 12 was unknown before 1.0.0-rc2 (it is reply_adopted now): the
    # unknown field of this vector moved to 14 (spec: MSG-1).
    add("offer-reserved-fields", "Offer carrying fields in the reserved range 5-10 and an unknown 14: skipped",
        ["MSG-1"], D_OFFER, "offer",
        offer_frame(OFFER + fv(5, 1) + fb(6, b"x") + fx64(7, 1) + fx32(10, 2) + fv(14, 3), 1),
        canonical=False)
    add("offer-token-last-wins", "A 15-byte token followed by a 16-byte one: the last occurrence counts",
        ["MSG-2", "MSG-8"], D_OFFER, "offer", offer_frame(fb(2, T[:15]) + OFFER, 1), canonical=False)

    # ---- HandoffAck / ready ----------------------------------------------
    add("ack-accepted", "Accepting ACK (spec example)", ["ENV-1", "ENV-7"], D_ACK, "ack", ack_frame(ACK, 1))
    add("ack-refused", "Refusing ACK with the error name in error_detail", ["ENV-7"], D_ACK, "ack",
        ack_frame(ser("HandoffAck", token=T, accepted=False, error_detail="SIDEBAND_MISMATCH",
                      correlation_id=5), 5))
    add("ack-maximal", "ACK with every field at its maximum", ["MSG-6"], D_ACK, "ack",
        ack_frame(ser("HandoffAck", token=b"\xee" * 16, accepted=True, error_detail="e" * 256,
                      correlation_id=U64, backend_capabilities=U64), U64))
    add("ack-backend-capabilities", "Accepting ACK declaring BACKEND_CAP_BACKEND_READY", ["ENV-7"], D_ACK, "ack",
        ack_frame(ser("HandoffAck", token=T, accepted=True, correlation_id=9, backend_capabilities=1), 9))
    add("ack-bool-nonminimal", "accepted encoded as a 3-byte varint of value 2: true",
        ["MSG-4", "MSG-11"], D_ACK, "ack",
        ack_frame(fb(1, T) + tag(2, 0) + varint(2, width=3) + fv(4, 1), 1), canonical=False)
    add("ack-bool-wide-varint", "accepted carried in a varint above 2^32-1: true",
        ["MSG-11"], D_ACK, "ack", ack_frame(fb(1, T) + fv(2, 1 << 40) + fv(4, 1), 1), canonical=False)
    add("ack-bool-explicit-false", "accepted explicitly encoded as 10 00", ["MSG-3"], D_ACK, "ack",
        ack_frame(fb(1, T) + fv(2, 0) + fv(4, 1), 1), canonical=False)
    add("ready-typical", "Ready EVENT on the adopted connection: the negotiated token, accepted",
        ["ENV-1", "ENV-7"], "backend->client", "ready",
        ready_frame(ser("HandoffAck", token=T, accepted=True, correlation_id=7), 7))
    add("ready-legacy-broker", "Ready EVENT written by a legacy broker", ["ENV-1"], D_REPLY, "ready",
        ready_frame(ser("HandoffAck", token=T2, accepted=True, correlation_id=1), 1))
    add("ready-minimal", "Ready with only the token (accepted false is the client's matter)",
        ["MSG-3", "MSG-8"], "backend->client", "ready", ready_frame(ser("HandoffAck", token=T), 0))

    # ---- envelope forms ---------------------------------------------------
    add("envelope-explicit-defaults", "Offer envelope with kind, encoding, deadline and trace fields explicitly at their defaults",
        ["MSG-3"], D_OFFER, "offer",
        frame(fv(1, 1) + fv(2, 0) + fv(3, P_HANDOFF) + fb(4, OFFER) + fv(5, 1) + fv(6, 0) + fv(7, 0)
              + fb(8, b"") + fb(9, b"")), canonical=False)
    add("envelope-reserved-fields", "Envelope with fields in the reserved range 10-15 and 16: skipped",
        ["MSG-1"], D_ACK, "ack", frame(env(ACK, RESP, P_HANDOFF, 1) + fv(10, 1) + fb(15, b"zz") + fx32(16, 0)),
        canonical=False)
    add("envelope-payload-last-wins", "payload occurs twice: the first (garbage) is replaced by the second",
        ["MSG-2"], D_OFFER, "offer",
        frame(fv(1, 1) + fb(4, b"\xff\xff\xff") + fv(3, P_HANDOFF) + fv(5, 1) + fb(4, OFFER)),
        canonical=False)
    add("envelope-fields-out-of-order", "Envelope fields in descending field-number order",
        ["MSG-1"], D_ACK, "ack", frame(fv(5, 1) + fb(4, ACK) + fv(3, P_HANDOFF) + fv(2, 1) + fv(1, 1)),
        canonical=False)
    add("envelope-kind-wide-varint", "kind carried in a varint of 2^32+1: the low 32 bits give RESPONSE",
        ["MSG-11"], D_ACK, "ack", frame(fv(1, 1) + fv(2, (1 << 32) | 1) + fv(3, P_HANDOFF) + fb(4, ACK) + fv(5, 1)),
        canonical=False)
    add("envelope-version-wide-varint", "envelope_version 2^32+1: the low 32 bits give 1",
        ["MSG-11"], D_HELLO, "hello", frame(fv(1, (1 << 32) | 1) + fb(4, HELLO)), canonical=False)
