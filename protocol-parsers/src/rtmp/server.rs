//! The server side of an RTMP connection: a publisher or a player talking to us.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::RtmpError;
use super::command::{Command, code, status};
use super::connection::ChunkConnection;
use super::handshake::{HandshakeStatus, ServerHandshake};
use super::media::{MediaDemuxer, MediaEvent, Metadata};
use super::message::{Message, MessageType, UserControlEvent, csid};
use crate::amf0::Amf0Value;
use crate::media::{Frame, Track};
use crate::{Limits, Session, Transmit};

/// What a server session asks of, or tells, the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The peer wants to publish `name` (the stream key, possibly with a `?query`)
    /// in `app`. Answer with `accept_publish` or `reject_publish`.
    PublishRequested { app: String, name: String },
    /// The peer wants to play `name` in `app`. Answer with `accept_play` or `reject_play`.
    PlayRequested { app: String, name: String },
    /// Media from the accepted publisher.
    Media(MediaEvent),
    /// The publisher stopped (FCUnpublish, deleteStream or closeStream).
    Unpublished,
    /// The player stopped (deleteStream or closeStream).
    PlayStopped,
    /// A command the session does not know; answered with `_error`, logged by the caller.
    UnknownCommand { name: String },
    /// The handshake/connect/publish exchange or the publisher went quiet for too long.
    TimedOut { waiting_for: &'static str },
}

#[derive(Debug)]
enum Phase {
    Handshake(Box<ServerHandshake>),
    Chunks,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    stream_id: u32,
}

/// Sans-IO RTMP server session. See the crate docs for the drive rule.
#[derive(Debug)]
pub struct ServerSession {
    phase: Phase,
    conn: ChunkConnection,
    limits: Limits,
    app: Option<String>,
    next_stream_id: u32,
    pending_publish: Option<Pending>,
    pending_play: Option<Pending>,
    publish_stream: Option<u32>,
    play_stream: Option<u32>,
    demuxer: MediaDemuxer,
    events: VecDeque<ServerEvent>,
    /// Until a publish or play is accepted, the exchange must finish by this instant.
    setup_deadline: Option<Instant>,
    last_input: Instant,
    closed: bool,
}

impl ServerSession {
    /// `random` fills the handshake's random bytes (the caller owns randomness).
    pub fn new(now: Instant, random: [u8; 1528], limits: Limits) -> Self {
        Self {
            phase: Phase::Handshake(Box::new(ServerHandshake::new(random, 0))),
            conn: ChunkConnection::new(&limits),
            setup_deadline: Some(now + limits.rtmp_handshake_timeout),
            limits,
            app: None,
            next_stream_id: 1,
            pending_publish: None,
            pending_play: None,
            publish_stream: None,
            play_stream: None,
            demuxer: MediaDemuxer::default(),
            events: VecDeque::new(),
            last_input: now,
            closed: false,
        }
    }

    pub fn is_publishing(&self) -> bool {
        self.publish_stream.is_some()
    }

    pub fn is_playing(&self) -> bool {
        self.play_stream.is_some()
    }

    /// Whether the peer is in the middle of sending a message: the rest of it is
    /// still to come.
    pub fn mid_message(&self) -> bool {
        self.conn.decoder.mid_message()
    }

    /// Whether the session has refused something and should be closed once its
    /// pending transmits are written.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn accept_publish(&mut self) {
        let Some(pending) = self.pending_publish.take() else {
            return;
        };
        self.publish_stream = Some(pending.stream_id);
        self.setup_deadline = None;
        self.conn
            .send_user_control(UserControlEvent::STREAM_BEGIN, pending.stream_id);
        self.send_status(pending, "status", code::PUBLISH_START, "Publishing");
    }

    pub fn reject_publish(&mut self, description: &str) {
        let Some(pending) = self.pending_publish.take() else {
            return;
        };
        self.send_status(pending, "error", code::PUBLISH_BAD_NAME, description);
        self.closed = true;
    }

    pub fn accept_play(&mut self) {
        let Some(pending) = self.pending_play.take() else {
            return;
        };
        self.play_stream = Some(pending.stream_id);
        self.setup_deadline = None;
        self.conn
            .send_user_control(UserControlEvent::STREAM_BEGIN, pending.stream_id);
        self.send_status(pending, "status", code::PLAY_RESET, "Playing and resetting");
        self.send_status(pending, "status", code::PLAY_START, "Started playing");
        let mut access = Vec::with_capacity(32);
        for value in [
            Amf0Value::string("|RtmpSampleAccess"),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(true),
        ] {
            value.encode(&mut access);
        }
        self.conn.send(
            csid::DATA,
            0,
            MessageType::DATA_AMF0,
            pending.stream_id,
            &[Bytes::from(access)],
        );
    }

    pub fn reject_play(&mut self, description: &str) {
        let Some(pending) = self.pending_play.take() else {
            return;
        };
        self.send_status(pending, "error", code::PLAY_STREAM_NOT_FOUND, description);
        self.closed = true;
    }

    /// Sends `onMetaData` to the player.
    pub fn send_metadata(&mut self, metadata: &Metadata) {
        if let Some(stream_id) = self.play_stream {
            self.conn.send_metadata(stream_id, metadata, false);
        }
    }

    /// Sends a sequence header to the player.
    pub fn send_track_config(&mut self, track: &Track, timestamp: u32) {
        if let Some(stream_id) = self.play_stream {
            self.conn.send_track_config(stream_id, track, timestamp);
        }
    }

    /// Sends a frame to the player at an RTMP timestamp (milliseconds).
    pub fn send_frame(&mut self, track: &Track, frame: &Frame, timestamp: u32, cts: i32) {
        if let Some(stream_id) = self.play_stream {
            self.conn
                .send_frame(stream_id, track, frame, timestamp, cts);
        }
    }

    fn send_status(&mut self, to: Pending, level: &str, status_code: &str, description: &str) {
        let command = Command::new(
            "onStatus",
            0.0,
            Amf0Value::Null,
            vec![status(level, status_code, description)],
        );
        self.conn.send_command(to.stream_id, &command);
    }

    fn reply(
        &mut self,
        stream_id: u32,
        name: &str,
        transaction_id: f64,
        object: Amf0Value,
        args: Vec<Amf0Value>,
    ) {
        let command = Command::new(name, transaction_id, object, args);
        self.conn.send_command(stream_id, &command);
    }

    fn handle_message(&mut self, message: Message) -> Result<(), RtmpError> {
        if self.conn.handle_control(&message) {
            return Ok(());
        }
        let stream_id = message.message_stream_id;
        let publishing = self.publish_stream == Some(stream_id)
            || self
                .pending_publish
                .is_some_and(|p| p.stream_id == stream_id);
        match message.type_id {
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let amf3 = message.type_id == MessageType::COMMAND_AMF3;
                let command = Command::decode(&message.payload, amf3, &self.limits)?;
                self.handle_command(stream_id, command)?;
            }
            MessageType::AUDIO | MessageType::VIDEO if !publishing => {
                return Err(RtmpError::MediaWithoutPublish { stream_id });
            }
            MessageType::AUDIO | MessageType::VIDEO => {
                let parsed = if message.type_id == MessageType::AUDIO {
                    self.demuxer.audio(message.timestamp, &message.payload)
                } else {
                    self.demuxer.video(message.timestamp, &message.payload)
                };
                match parsed {
                    Ok(Some(event)) => self.events.push_back(ServerEvent::Media(event)),
                    Ok(None) => {}
                    // Well-formed but unsupported media (e.g. a codec we do not
                    // carry) is dropped; only malformed media closes the connection.
                    Err(e) if e.is_unsupported() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 if publishing => {
                let body = if message.type_id == MessageType::DATA_AMF3 {
                    message.payload.get(1..).unwrap_or_default()
                } else {
                    &message.payload[..]
                };
                let event = self
                    .demuxer
                    .data(body, &self.limits)
                    .map_err(|e| RtmpError::Command(e.into()))?;
                if let Some(event) = event {
                    self.events.push_back(ServerEvent::Media(event));
                }
            }
            // Shared objects, aggregates and data outside a publish are not used by
            // encoders; ignoring them is what nginx-rtmp and SRS do.
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, command: Command) -> Result<(), RtmpError> {
        let txid = command.transaction_id;
        match command.name.as_str() {
            "connect" => {
                let app = command
                    .object
                    .property("app")
                    .and_then(Amf0Value::as_str)
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_owned();
                self.app = Some(app);
                self.conn.send_connection_setup(true);
                let properties = Amf0Value::object([
                    ("fmsVer", Amf0Value::string("FMS/3,0,1,123")),
                    ("capabilities", Amf0Value::Number(31.0)),
                ]);
                let mut info = status("status", code::CONNECT_SUCCESS, "Connection succeeded.");
                if let Amf0Value::Object(props) = &mut info {
                    props.push(("objectEncoding".to_owned(), Amf0Value::Number(0.0)));
                }
                self.reply(0, "_result", txid, properties, vec![info]);
            }
            "releaseStream" => self.reply(
                0,
                "_result",
                txid,
                Amf0Value::Null,
                vec![Amf0Value::Undefined],
            ),
            "FCPublish" => {
                let info = status("status", code::PUBLISH_START, "FCPublish");
                self.reply(0, "onFCPublish", 0.0, Amf0Value::Null, vec![info]);
            }
            "createStream" => {
                self.require_connected(&command)?;
                let id = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.saturating_add(1);
                self.reply(
                    0,
                    "_result",
                    txid,
                    Amf0Value::Null,
                    vec![Amf0Value::Number(f64::from(id))],
                );
            }
            "publish" => {
                let app = self.require_connected(&command)?;
                let name = command.first_string_arg().unwrap_or_default().to_owned();
                self.pending_publish = Some(Pending { stream_id });
                self.events
                    .push_back(ServerEvent::PublishRequested { app, name });
            }
            "play" => {
                let app = self.require_connected(&command)?;
                let name = command.first_string_arg().unwrap_or_default().to_owned();
                self.pending_play = Some(Pending { stream_id });
                self.events
                    .push_back(ServerEvent::PlayRequested { app, name });
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if self.publish_stream.take().is_some() {
                    self.events.push_back(ServerEvent::Unpublished);
                }
                if self.play_stream.take().is_some() {
                    self.events.push_back(ServerEvent::PlayStopped);
                }
            }
            // Harmless requests players and encoders send; nothing to answer.
            "getStreamLength" | "_checkbw" | "receiveAudio" | "receiveVideo" | "pause" | "seek"
            | "_result" | "_error" | "onStatus" | "onBWDone" => {}
            _ => {
                if txid > 0.0 {
                    let info = status("error", "NetConnection.Call.Failed", "Unknown command");
                    self.reply(stream_id, "_error", txid, Amf0Value::Null, vec![info]);
                }
                self.events
                    .push_back(ServerEvent::UnknownCommand { name: command.name });
            }
        }
        Ok(())
    }

    fn require_connected(&self, command: &Command) -> Result<String, RtmpError> {
        self.app.clone().ok_or_else(|| RtmpError::NotConnected {
            command: command.name.clone(),
        })
    }

    fn feed_chunks(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        self.conn.on_received(data.len());
        self.conn.decoder.push(data);
        while let Some(message) = self.conn.decoder.decode()? {
            self.handle_message(message)?;
        }
        Ok(())
    }
}

impl Session for ServerSession {
    type Event = ServerEvent;
    type Error = RtmpError;

    fn handle_input(&mut self, now: Instant, data: Bytes) -> Result<(), RtmpError> {
        if self.closed {
            return Err(RtmpError::Closed);
        }
        self.last_input = now;
        match &mut self.phase {
            Phase::Handshake(handshake) => {
                let status = handshake.handle_input(&data)?;
                if let Some(out) = handshake.poll_transmit() {
                    self.conn.send_raw(out);
                }
                if let HandshakeStatus::Done { remaining } = status {
                    self.phase = Phase::Chunks;
                    self.feed_chunks(&remaining)?;
                }
                Ok(())
            }
            Phase::Chunks => self.feed_chunks(&data),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let waiting_for = if self.setup_deadline.is_some_and(|d| now >= d) {
            "the handshake, connect and publish/play to finish"
        } else if self.is_publishing() && now >= self.last_input + self.limits.rtmp_idle_timeout {
            "media from the publisher"
        } else {
            return;
        };
        self.closed = true;
        self.events.push_back(ServerEvent::TimedOut { waiting_for });
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.conn.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        if let Some(deadline) = self.setup_deadline {
            return Some(deadline);
        }
        self.is_publishing()
            .then(|| self.last_input + self.limits.rtmp_idle_timeout)
    }
}
