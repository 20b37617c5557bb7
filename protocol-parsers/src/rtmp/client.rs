//! The client side of an RTMP connection: Manifold publishing to a platform.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::RtmpError;
use super::command::{Command, code};
use super::connection::ChunkConnection;
use super::handshake::{ClientHandshake, HandshakeStatus};
use super::media::Metadata;
use super::message::{Message, MessageType};
use crate::amf0::Amf0Value;
use crate::media::{Frame, Track};
use crate::{Limits, Session, Transmit};

/// Where to publish: `rtmp://host/APP/KEY` splits into these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub app: String,
    pub tc_url: String,
    pub stream_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The destination accepted the publish: media may flow.
    Publishing,
    /// The destination refused the connect or the publish.
    Rejected { reason: String },
    /// The destination did not complete the exchange in time.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Handshake,
    Connecting,
    CreatingStream,
    Publishing,
    Live,
    Closed,
}

const TX_CONNECT: f64 = 1.0;
const TX_CREATE_STREAM: f64 = 4.0;
const TX_PUBLISH: f64 = 5.0;

/// Sans-IO RTMP publishing client. See the crate docs for the drive rule.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    handshake: Option<Box<ClientHandshake>>,
    conn: ChunkConnection,
    limits: Limits,
    step: Step,
    stream_id: u32,
    events: VecDeque<ClientEvent>,
    deadline: Option<Instant>,
}

impl ClientSession {
    pub fn new(now: Instant, random: [u8; 1528], config: ClientConfig, limits: Limits) -> Self {
        let mut handshake = ClientHandshake::new(random, 0);
        let mut conn = ChunkConnection::new(&limits);
        if let Some(c0c1) = handshake.poll_transmit() {
            conn.send_raw(c0c1);
        }
        Self {
            config,
            handshake: Some(Box::new(handshake)),
            conn,
            deadline: Some(now + limits.rtmp_handshake_timeout),
            limits,
            step: Step::Handshake,
            stream_id: 0,
            events: VecDeque::new(),
        }
    }

    pub fn is_live(&self) -> bool {
        self.step == Step::Live
    }

    /// Sends `@setDataFrame onMetaData`.
    pub fn send_metadata(&mut self, metadata: &Metadata) {
        if self.is_live() {
            self.conn.send_metadata(self.stream_id, metadata, true);
        }
    }

    pub fn send_track_config(&mut self, track: &Track, timestamp: u32) {
        if self.is_live() {
            self.conn
                .send_track_config(self.stream_id, track, timestamp);
        }
    }

    pub fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32) {
        if self.is_live() {
            self.conn
                .send_frame(self.stream_id, track, frame, timestamp, cts);
        }
    }

    /// A writer of this publish's media, for a sender that writes frames itself:
    /// the same bytes `send_frame` and friends would queue. `None` until live.
    pub fn media_writer(&self) -> Option<super::MediaWriter> {
        self.is_live()
            .then(|| self.conn.media_writer(self.stream_id, true))
    }

    /// Ends the publish politely: FCUnpublish and deleteStream.
    pub fn finish(&mut self) {
        if self.is_live() {
            let key = Amf0Value::string(self.config.stream_key.clone());
            self.command(0, "FCUnpublish", 6.0, vec![key]);
            let id = Amf0Value::Number(f64::from(self.stream_id));
            self.command(0, "deleteStream", 7.0, vec![id]);
        }
        self.step = Step::Closed;
    }

    fn command(&mut self, stream_id: u32, name: &str, txid: f64, args: Vec<Amf0Value>) {
        self.conn
            .send_command(stream_id, &Command::new(name, txid, Amf0Value::Null, args));
    }

    fn start_connect(&mut self) {
        self.conn.send_connection_setup(false);
        let object = Amf0Value::object([
            ("app", Amf0Value::string(self.config.app.clone())),
            ("type", Amf0Value::string("nonprivate")),
            (
                "flashVer",
                Amf0Value::string("FMLE/3.0 (compatible; Manifold)"),
            ),
            ("tcUrl", Amf0Value::string(self.config.tc_url.clone())),
        ]);
        self.conn
            .send_command(0, &Command::new("connect", TX_CONNECT, object, Vec::new()));
        self.step = Step::Connecting;
    }

    fn reject(&mut self, reason: String) {
        self.step = Step::Closed;
        self.deadline = None;
        self.events.push_back(ClientEvent::Rejected { reason });
    }

    fn handle_message(&mut self, message: Message) -> Result<(), RtmpError> {
        if self.conn.handle_control(&message) {
            return Ok(());
        }
        if !matches!(
            message.type_id,
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3
        ) {
            return Ok(());
        }
        let amf3 = message.type_id == MessageType::COMMAND_AMF3;
        let command = Command::decode(&message.payload, amf3, &self.limits)?;
        let txid = command.transaction_id;
        match (command.name.as_str(), self.step) {
            ("_result", Step::Connecting) if txid == TX_CONNECT => {
                let key = Amf0Value::string(self.config.stream_key.clone());
                self.command(0, "releaseStream", 2.0, vec![key.clone()]);
                self.command(0, "FCPublish", 3.0, vec![key]);
                self.command(0, "createStream", TX_CREATE_STREAM, Vec::new());
                self.step = Step::CreatingStream;
            }
            ("_result", Step::CreatingStream) if txid == TX_CREATE_STREAM => {
                let id = command
                    .args
                    .first()
                    .and_then(Amf0Value::as_number)
                    .unwrap_or(1.0);
                self.stream_id = id as u32;
                let args = vec![
                    Amf0Value::string(self.config.stream_key.clone()),
                    Amf0Value::string("live"),
                ];
                self.command(self.stream_id, "publish", TX_PUBLISH, args);
                self.step = Step::Publishing;
            }
            ("_error", Step::Connecting | Step::CreatingStream | Step::Publishing)
                if txid == TX_CONNECT || txid == TX_CREATE_STREAM || txid == TX_PUBLISH =>
            {
                self.reject(describe(&command));
            }
            ("onStatus", Step::Publishing | Step::Live) => {
                let info = command.args.first();
                let level = info
                    .and_then(|i| i.property("level"))
                    .and_then(Amf0Value::as_str);
                let status = info
                    .and_then(|i| i.property("code"))
                    .and_then(Amf0Value::as_str);
                if status == Some(code::PUBLISH_START) && self.step == Step::Publishing {
                    self.step = Step::Live;
                    self.deadline = None;
                    self.events.push_back(ClientEvent::Publishing);
                } else if level == Some("error") {
                    self.reject(describe(&command));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The most telling text in an `_error` or error `onStatus`.
fn describe(command: &Command) -> String {
    let info = command.args.first();
    let field = |name| {
        info.and_then(|i| i.property(name))
            .and_then(Amf0Value::as_str)
    };
    match (field("code"), field("description")) {
        (Some(code), Some(description)) => format!("{code}: {description}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => format!("{} without a description", command.name),
    }
}

impl Session for ClientSession {
    type Event = ClientEvent;
    type Error = RtmpError;

    fn handle_input(&mut self, _now: Instant, data: Bytes) -> Result<(), RtmpError> {
        if self.step == Step::Closed {
            return Err(RtmpError::Closed);
        }
        let mut data = data;
        if let Some(handshake) = &mut self.handshake {
            let status = handshake.handle_input(&data)?;
            if let Some(out) = handshake.poll_transmit() {
                self.conn.send_raw(out);
            }
            let HandshakeStatus::Done { remaining } = status else {
                return Ok(());
            };
            self.handshake = None;
            self.start_connect();
            data = remaining;
        }
        self.conn.on_received(data.len());
        self.conn.decoder.push(&data);
        while let Some(message) = self.conn.decoder.decode()? {
            self.handle_message(message)?;
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            self.step = Step::Closed;
            self.events.push_back(ClientEvent::TimedOut);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.conn.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}
