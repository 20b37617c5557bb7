//! A hand-driven RTMP client for feeding a server bad input: raw TCP, the plain
//! handshake, chunks written with the crate's own encoder, and replies decoded with
//! its decoder. Every read has a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol_parsers::Limits;
use protocol_parsers::amf0::Amf0Value;
use protocol_parsers::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
use protocol_parsers::rtmp::command::Command;
use protocol_parsers::rtmp::handshake::{ClientHandshake, HandshakeStatus, RANDOM_SIZE};
use protocol_parsers::rtmp::message::{Message, MessageType, csid};

/// Deterministic bytes from a fixed seed (splitmix64), so a failure replays exactly.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A TCP connection to the server's RTMP port.
pub fn tcp(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the RTMP port");
    let _ = stream.set_nodelay(true);
    stream
}

/// The `peer=` field the server logs for this connection (with the trailing space,
/// so port 4057 does not match 40571).
pub fn peer_field(stream: &TcpStream) -> String {
    let local = stream.local_addr().expect("local addr");
    format!("peer={local} ")
}

/// A field (`code`, `level`) of an `onStatus` command's info object.
pub fn status_field<'a>(status: &'a Command, name: &str) -> Option<&'a str> {
    let info = status.args.first().expect("onStatus info object");
    info.property(name).and_then(Amf0Value::as_str)
}

/// Writes `data`, ignoring errors: a server that closes early on bad input makes
/// later writes fail with EPIPE or ECONNRESET, which is what the test wants.
pub fn send_lossy(stream: &mut TcpStream, data: &[u8]) {
    let _ = stream.write_all(data);
}

/// Reads (and discards) until the server closes the connection: EOF or a reset.
/// Returns how long that took; panics after `timeout`.
pub fn wait_closed(stream: &mut TcpStream, what: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            panic!("{what}: the server did not close the connection within {timeout:?}");
        }
        let slice = (deadline - now).min(Duration::from_millis(200));
        stream
            .set_read_timeout(Some(slice))
            .expect("set read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ECONNRESET and friends: the server closed with our bytes unread.
            Err(_) => return start.elapsed(),
        }
    }
}

/// A client past the handshake, able to send chunks and read messages.
pub struct RawRtmp {
    pub stream: TcpStream,
    pub encoder: ChunkEncoder,
    decoder: ChunkDecoder,
}

impl RawRtmp {
    /// Connects and completes a plain handshake (C1 version field zero): C0+C1,
    /// then S0+S1+S2 read back, C2 sent.
    pub fn handshake(port: u16) -> Self {
        let mut stream = tcp(port);
        let mut random = [0u8; RANDOM_SIZE];
        random.copy_from_slice(&seeded_bytes(7, RANDOM_SIZE));
        let mut client = ClientHandshake::new(random, 0);
        let c0c1 = client.poll_transmit().expect("C0+C1");
        stream.write_all(&c0c1).expect("send C0+C1");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 8192];
        let remaining = loop {
            assert!(
                Instant::now() < deadline,
                "no S0+S1+S2 from the server within 10 s"
            );
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("set read timeout");
            let n = match stream.read(&mut buf) {
                Ok(0) => panic!("the server closed the connection during the handshake"),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => panic!("handshake read failed: {e}"),
            };
            let status = client.handle_input(&buf[..n]).expect("valid S0+S1+S2");
            while let Some(out) = client.poll_transmit() {
                stream.write_all(&out).expect("send C2");
            }
            if let HandshakeStatus::Done { remaining } = status {
                break remaining;
            }
        };
        let mut decoder = ChunkDecoder::new(&Limits::default());
        decoder.push(&remaining);
        Self {
            stream,
            encoder: ChunkEncoder::new(),
            decoder,
        }
    }

    pub fn peer_field(&self) -> String {
        peer_field(&self.stream)
    }

    /// Chunks one message with the encoder's current chunk size and sends it.
    pub fn send_message(&mut self, csid: u32, type_id: MessageType, stream_id: u32, body: &[u8]) {
        let wire = self.encode_message(csid, type_id, stream_id, 0, body);
        send_lossy(&mut self.stream, &wire);
    }

    /// Chunks one message stamped `timestamp` without sending it, for a caller that
    /// sends part of it.
    pub fn encode_message(
        &mut self,
        csid: u32,
        type_id: MessageType,
        stream_id: u32,
        timestamp: u32,
        body: &[u8],
    ) -> Vec<u8> {
        let mut pieces = Vec::new();
        self.encoder.write_message(
            csid,
            timestamp,
            type_id,
            stream_id,
            &[Bytes::copy_from_slice(body)],
            &mut pieces,
        );
        pieces.concat()
    }

    /// Sends Set Chunk Size with `size` as the raw 32-bit value, whatever it is.
    pub fn send_set_chunk_size(&mut self, size: u32) {
        self.send_message(
            csid::PROTOCOL_CONTROL,
            MessageType::SET_CHUNK_SIZE,
            0,
            &size.to_be_bytes(),
        );
    }

    pub fn send_command(&mut self, stream_id: u32, command: &Command) {
        self.send_message(
            csid::COMMAND,
            MessageType::COMMAND_AMF0,
            stream_id,
            &command.encode(),
        );
    }

    /// `connect` to `app`, waiting for its `_result`.
    pub fn connect_app(&mut self, app: &str) {
        let command = Command::new(
            "connect",
            1.0,
            Amf0Value::object([
                ("app", Amf0Value::string(app)),
                ("type", Amf0Value::string("nonprivate")),
                ("flashVer", Amf0Value::string("FMLE/3.0 (bad-input test)")),
                (
                    "tcUrl",
                    Amf0Value::string(format!("rtmp://127.0.0.1/{app}")),
                ),
            ]),
            vec![],
        );
        self.send_command(0, &command);
        let reply = self.read_command("connect's _result", Duration::from_secs(10), |c| {
            c.transaction_id == 1.0 && (c.name == "_result" || c.name == "_error")
        });
        assert_eq!(reply.name, "_result", "connect refused: {reply:?}");
    }

    /// `createStream` (transaction `transaction`); returns the stream id.
    fn create_stream(&mut self, transaction: f64) -> u32 {
        self.send_command(
            0,
            &Command::new("createStream", transaction, Amf0Value::Null, vec![]),
        );
        let created = self.read_command("createStream's _result", Duration::from_secs(5), |c| {
            c.transaction_id == transaction
        });
        created
            .args
            .first()
            .and_then(Amf0Value::as_number)
            .unwrap_or_else(|| panic!("createStream answered {created:?}")) as u32
    }

    /// `connect` to `live`, `createStream` and `publish KEY`; returns the stream id
    /// and the `onStatus` the server answers the publish with.
    pub fn publish(&mut self, key: &str) -> (u32, Command) {
        self.on_new_stream(
            "publish",
            vec![Amf0Value::string(key), Amf0Value::string("live")],
        )
    }

    /// `connect` to `live`, `createStream` and `play NAME`; returns the `onStatus`
    /// the server answers the play with.
    pub fn play(&mut self, name: &str) -> Command {
        self.on_new_stream("play", vec![Amf0Value::string(name)]).1
    }

    /// `connect` to `live`, `createStream`, then `command` with `args` on the new
    /// stream; returns the stream id and the `onStatus` the server answers with.
    fn on_new_stream(&mut self, command: &str, args: Vec<Amf0Value>) -> (u32, Command) {
        self.connect_app("live");
        let stream_id = self.create_stream(2.0);
        self.send_command(
            stream_id,
            &Command::new(command, 3.0, Amf0Value::Null, args),
        );
        let status = self.read_command(
            &format!("{command}'s onStatus"),
            Duration::from_secs(5),
            |c| c.name == "onStatus",
        );
        (stream_id, status)
    }

    /// Reads messages until one of `type_id` whose payload satisfies `wanted`
    /// arrives; panics if the server closes first or `timeout` passes.
    pub fn wait_media(
        &mut self,
        what: &str,
        type_id: MessageType,
        timeout: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(read) = self.try_read_message(deadline) else {
                panic!("{what}: not received within {timeout:?}");
            };
            let Some(message) = read else {
                panic!("waiting for {what}: the server closed the connection");
            };
            if message.type_id == type_id && wanted(&message.payload) {
                return;
            }
        }
    }

    /// The next message from the server, or `None` when it closed the connection.
    pub fn read_message(&mut self, deadline: Instant) -> Option<Message> {
        self.try_read_message(deadline)
            .unwrap_or_else(|| panic!("no message from the server in time"))
    }

    /// The next message from the server (`Some(None)` when it closed the
    /// connection), or `None` when `deadline` passes first.
    fn try_read_message(&mut self, deadline: Instant) -> Option<Option<Message>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(message) = self.decoder.decode().expect("server sent valid chunks") {
                return Some(Some(message));
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.stream
                .set_read_timeout(Some((deadline - now).min(Duration::from_millis(200))))
                .expect("set read timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(None),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Some(None),
            }
        }
    }

    /// Reads messages until a command matching `wanted` arrives; panics if the server
    /// closes first or `timeout` passes.
    pub fn read_command(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&Command) -> bool,
    ) -> Command {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let Some(message) = self.read_message(deadline) else {
                panic!("waiting for {what}: the server closed the connection; saw {seen:?}");
            };
            if message.type_id != MessageType::COMMAND_AMF0 {
                continue;
            }
            let command = Command::decode(&message.payload, false, &Limits::default())
                .expect("server sent a valid command");
            if wanted(&command) {
                return command;
            }
            seen.push(command.name);
        }
    }
}
