use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Spec §4.4 (kubelet's `httpStreamReceived`): each stream names its type, port and request.
#[test]
fn stream_headers_are_checked_in_kubelets_words() {
    type Case<'a> = (&'a [(&'a str, &'a str)], Result<Kind, &'a str>);
    let cases: &[Case] = &[
        (
            &[("streamtype", "error"), ("port", "80"), ("requestid", "0")],
            Ok(Kind::Error {
                request: "0".into(),
            }),
        ),
        (
            &[("streamtype", "data"), ("port", "8080"), ("requestid", "7")],
            Ok(Kind::Data {
                request: "7".into(),
                port: 8080,
            }),
        ),
        (
            &[("streamtype", "data")],
            Err("\"port\" header is required"),
        ),
        (
            &[("streamtype", "data"), ("port", "x")],
            Err("unable to parse \"x\" as a port: invalid digit found in string"),
        ),
        (
            &[("streamtype", "data"), ("port", "0")],
            Err("port \"0\" must be > 0"),
        ),
        (
            &[("streamtype", "data"), ("port", "70000")],
            Err("port \"70000\" must be > 0"),
        ),
        (
            &[("streamtype", "other"), ("port", "80")],
            Err("invalid stream type \"other\""),
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(
            stream_kind(&h(headers)),
            want.clone().map_err(String::from),
            "{headers:?}"
        );
    }
}

#[test]
fn a_failed_dial_is_told_as_kubelet_and_containerd_tell_it() {
    let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
    let unreachable = std::io::Error::from_raw_os_error(libc::ENETUNREACH);
    assert_eq!(
        dial_error(80, "abc", &refused, &unreachable),
        "error forwarding port 80 to pod abc, uid : failed to connect to localhost:80 inside namespace \"abc\", IPv4: dial tcp4 127.0.0.1:80: connect: connection refused IPv6 dial tcp6 [::1]:80: connect: network is unreachable "
    );
}

/// The client's side of a session with a forwarder dialling the host's loopback.
struct Client {
    enc: Encoder,
    dec: Decoder,
    to: mpsc::Sender<Vec<u8>>,
    from: mpsc::Receiver<Vec<u8>>,
    /// Data received per stream, and whether it ended.
    streams: HashMap<u32, (Vec<u8>, bool)>,
}

impl Client {
    fn start() -> Client {
        let (to, incoming) = mpsc::channel(64);
        let (out, from) = mpsc::channel(64);
        let f = Forwarder {
            target: Target::Host,
            sandbox: "pod-uid".into(),
        };
        tokio::spawn(async move { f.session(incoming, out).await });
        Client {
            enc: Encoder::default(),
            dec: Decoder::default(),
            to,
            from,
            streams: HashMap::new(),
        }
    }

    async fn send(&self, bytes: Vec<u8>) {
        self.to.send(bytes).await.unwrap();
    }

    /// kubectl's opening of one forwarded connection: the error stream (half-closed at once),
    /// then the data stream.
    async fn open(&mut self, request: &str, port: u16, error: u32, data: u32) {
        let port = port.to_string();
        let e = self.enc.syn_stream(
            error,
            false,
            &[
                ("streamtype", "error"),
                ("port", &port),
                ("requestid", request),
            ],
        );
        self.send(e).await;
        self.send(spdy::data(error, true, b"")).await;
        let d = self.enc.syn_stream(
            data,
            false,
            &[
                ("streamtype", "data"),
                ("port", &port),
                ("requestid", request),
            ],
        );
        self.send(d).await;
    }

    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(f) = self.dec.next_frame().unwrap() {
                return f;
            }
            let b = tokio::time::timeout(Duration::from_secs(10), self.from.recv())
                .await
                .expect("a frame within 10 s")
                .expect("the session is still there");
            self.dec.push(&b);
        }
    }

    /// Frames until both given streams ended: what came on each (other streams' data is kept
    /// for their turn).
    async fn until_ended(&mut self, error: u32, data: u32) -> (Vec<u8>, Vec<u8>) {
        let ended = |c: &Client, s| c.streams.get(&s).is_some_and(|(_, fin)| *fin);
        while !ended(self, error) || !ended(self, data) {
            if let Frame::Data {
                stream,
                fin,
                data: bytes,
            } = self.frame().await
            {
                let entry = self.streams.entry(stream).or_default();
                entry.0.extend(bytes);
                entry.1 |= fin;
            }
        }
        let mut take = |s| self.streams.remove(&s).unwrap_or_default().0;
        (take(error), take(data))
    }
}

/// An echo server on the loopback: its port.
async fn echo() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

// Spec §4.4: both streams get a SYN_REPLY, bytes go both ways, the client's FIN half-closes
// the pod's side, and the pod's close ends the data stream and then the error stream, empty.
#[tokio::test]
async fn bytes_go_both_ways_and_both_streams_end() {
    let port = echo().await;
    let mut c = Client::start();
    c.open("0", port, 1, 3).await;
    for stream in [1, 3] {
        assert_eq!(
            c.frame().await,
            Frame::SynReply {
                stream,
                headers: vec![]
            }
        );
    }
    c.send(spdy::data(3, false, b"hello ")).await;
    c.send(spdy::data(3, true, b"pod")).await;
    let (error, data) = c.until_ended(1, 3).await;
    assert_eq!(String::from_utf8_lossy(&data), "hello pod");
    assert!(error.is_empty(), "{}", String::from_utf8_lossy(&error));
}

#[tokio::test]
async fn a_refused_dial_is_written_on_the_error_stream() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Client::start();
    c.open("4", port, 5, 7).await;
    let (error, data) = c.until_ended(5, 7).await;
    let error = String::from_utf8_lossy(&error);
    assert!(
        error.starts_with(&format!(
            "error forwarding port {port} to pod pod-uid, uid : failed to connect to localhost:{port}"
        )),
        "{error}"
    );
    assert!(error.contains("connect: connection refused"), "{error}");
    assert!(data.is_empty());
}

#[tokio::test]
async fn pings_are_echoed_and_bad_streams_reset() {
    let mut c = Client::start();
    c.send(spdy::ping(1)).await;
    assert_eq!(c.frame().await, Frame::Ping(1));
    let bad = c.enc.syn_stream(9, false, &[("streamtype", "data")]);
    c.send(bad).await;
    assert_eq!(
        c.frame().await,
        Frame::RstStream {
            stream: 9,
            status: spdy::CANCEL
        }
    );
}

#[tokio::test]
async fn two_connections_at_once_keep_apart() {
    let port = echo().await;
    let mut c = Client::start();
    c.open("0", port, 1, 3).await;
    c.open("1", port, 5, 7).await;
    c.send(spdy::data(7, true, b"second")).await;
    c.send(spdy::data(3, true, b"first")).await;
    let (_, second) = c.until_ended(5, 7).await;
    assert_eq!(second, b"second");
    let (_, first) = c.until_ended(1, 3).await;
    assert_eq!(first, b"first");
}

// A bad frame ends the session with a GOAWAY, never a panic.
#[tokio::test]
async fn a_bad_frame_ends_the_session() {
    let mut c = Client::start();
    c.send(vec![0x80, 0x02, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]).await;
    assert_eq!(c.frame().await, Frame::GoAway);
    assert!(c.from.recv().await.is_none(), "the session is over");
}
