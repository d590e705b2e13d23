use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Spec §4.4: the two SYN_STREAMs of one forwarded connection, their header blocks deflated by C
// zlib with SPDY's dictionary and one stream for both (made with Python's zlib, an implementation
// apart from ours, as Go's is): the second block refers back to the first's.
const ERROR_STREAM: &str = "800300010000003c0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45a024cc64610024398b209198094adc8c0600000000ffff";
const DATA_STREAM: &str = "800300010000001800000003000000000000c2aa15540a2512d209000000ffff";

#[test]
fn kubectls_syn_streams_are_read_across_one_inflate_stream() {
    let mut d = Decoder::default();
    d.push(&hex(ERROR_STREAM));
    d.push(&hex(DATA_STREAM));
    let want = |stream, kind| Frame::SynStream {
        stream,
        fin: false,
        headers: headers(&[("streamtype", kind), ("port", "80"), ("requestid", "0")]),
    };
    assert_eq!(d.next_frame().unwrap(), Some(want(1, "error")));
    assert_eq!(d.next_frame().unwrap(), Some(want(3, "data")));
    assert_eq!(d.next_frame().unwrap(), None);
}

// Spec §4.4: over the WebSocket tunnel the first SYN_STREAM came as messages of 2, 2, 4, 4, 4,
// 1, 1 and the rest bytes: a frame is taken only when whole.
#[test]
fn a_frame_split_into_pieces_is_taken_when_whole() {
    let bytes = hex(ERROR_STREAM);
    let mut d = Decoder::default();
    let mut at = 0;
    for n in [2, 2, 4, 4, 4, 1, 1] {
        d.push(&bytes[at..at + n]);
        at += n;
        assert_eq!(d.next_frame().unwrap(), None);
    }
    d.push(&bytes[at..]);
    assert!(matches!(
        d.next_frame().unwrap(),
        Some(Frame::SynStream { stream: 1, .. })
    ));
}

#[test]
fn our_frames_read_back() {
    let mut e = Encoder::default();
    let mut bytes = e.syn_stream(5, true, &[("Port", "8080"), ("streamtype", "data")]);
    bytes.extend(e.syn_reply(5, &[]));
    bytes.extend(e.syn_reply(7, &[("x", "y")]));
    bytes.extend(data(5, false, b"hello"));
    bytes.extend(data(5, true, b""));
    bytes.extend(ping(9));
    bytes.extend(rst_stream(5, CANCEL));
    bytes.extend(goaway(7));
    let mut d = Decoder::default();
    d.push(&bytes);
    let mut frames = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        frames.push(f);
    }
    assert_eq!(
        frames,
        vec![
            Frame::SynStream {
                stream: 5,
                fin: true,
                headers: headers(&[("port", "8080"), ("streamtype", "data")]),
            },
            Frame::SynReply {
                stream: 5,
                headers: vec![]
            },
            Frame::SynReply {
                stream: 7,
                headers: headers(&[("x", "y")])
            },
            Frame::Data {
                stream: 5,
                fin: false,
                data: b"hello".to_vec()
            },
            Frame::Data {
                stream: 5,
                fin: true,
                data: vec![]
            },
            Frame::Ping(9),
            Frame::RstStream {
                stream: 5,
                status: CANCEL
            },
            Frame::GoAway,
        ]
    );
}

#[test]
fn frames_on_the_wire_are_spdy3s() {
    // Data: stream id, flags, 24-bit length, payload.
    assert_eq!(data(3, true, b"ab"), hex("00000003010000026162"));
    // Control: 0x8003, type, flags and length, body.
    assert_eq!(ping(1), hex("800300060000000400000001"));
    assert_eq!(rst_stream(3, 5), hex("80030003000000080000000300000005"));
}

#[test]
fn bad_frames_are_errors_not_panics() {
    // Version 2.
    let mut d = Decoder::default();
    d.push(&hex("800200060000000400000001"));
    assert_eq!(d.next_frame(), Err(SpdyError::Version(2)));
    // A SYN_STREAM too short for its fixed fields.
    let mut d = Decoder::default();
    d.push(&hex("80030001000000020000"));
    assert_eq!(d.next_frame(), Err(SpdyError::Malformed("SYN_STREAM")));
    // A header block that is not zlib.
    let mut d = Decoder::default();
    d.push(&hex("800300010000000e000000010000000000000102030405"));
    assert!(matches!(d.next_frame(), Err(SpdyError::Headers(_))));
    // A block whose pair count promises more than it holds.
    assert!(parse_header_block(&hex("00000002000000016100000001")).is_err());
    assert!(parse_header_block(&hex("ffffffff")).is_err());
}
