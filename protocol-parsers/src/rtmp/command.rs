//! NetConnection and NetStream commands (spec 7.2): AMF0 name, transaction id,
//! command object, arguments.

use bytes::Bytes;

use crate::Limits;
use crate::amf0::{self, Amf0Error, Amf0Value};

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    /// The command object (often null).
    pub object: Amf0Value,
    pub args: Vec<Amf0Value>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("malformed AMF0: {0}")]
    Amf0(#[from] Amf0Error),
    #[error("command message does not start with a name string")]
    MissingName,
}

impl Command {
    /// Decodes an AMF0 command body. `amf3` strips the leading format byte of an
    /// AMF3 command message (type 17), whose body is AMF0 in practice.
    pub fn decode(payload: &[u8], amf3: bool, limits: &Limits) -> Result<Self, CommandError> {
        let body = if amf3 {
            payload.get(1..).unwrap_or_default()
        } else {
            payload
        };
        let mut values = amf0::decode(body, limits)?.into_iter();
        let name = match values.next() {
            Some(Amf0Value::String(name) | Amf0Value::LongString(name)) => name,
            _ => return Err(CommandError::MissingName),
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let object = values.next().unwrap_or(Amf0Value::Null);
        Ok(Self {
            name,
            transaction_id,
            object,
            args: values.collect(),
        })
    }

    pub fn new(name: &str, transaction_id: f64, object: Amf0Value, args: Vec<Amf0Value>) -> Self {
        Self {
            name: name.to_owned(),
            transaction_id,
            object,
            args,
        }
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(128);
        Amf0Value::String(self.name.clone()).encode(&mut out);
        Amf0Value::Number(self.transaction_id).encode(&mut out);
        self.object.encode(&mut out);
        for arg in &self.args {
            arg.encode(&mut out);
        }
        Bytes::from(out)
    }

    /// The first string argument (stream name for publish/play, key for FCPublish).
    pub fn first_string_arg(&self) -> Option<&str> {
        self.args.first().and_then(Amf0Value::as_str)
    }
}

/// An `onStatus` info object.
pub fn status(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string(level)),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string(description)),
    ])
}

/// NetStream / NetConnection status codes used by the sessions.
pub mod code {
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    pub const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    pub const PLAY_RESET: &str = "NetStream.Play.Reset";
    pub const PLAY_START: &str = "NetStream.Play.Start";
    pub const PLAY_STREAM_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    pub const PLAY_UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
}
