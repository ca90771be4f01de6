//! The API's one error type: every failure becomes a status code and a JSON
//! body `{"detail": "..."}`, decided here and nowhere else. A 422 is the
//! one exception: its `detail` is FastAPI's list of field errors, because
//! that is what clients of the replaced service read (`validation.rs`).

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use crate::coord::CoordError;
use crate::log::LogError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// For a 422: the field errors (one generic entry is made from
    /// `detail` when empty).
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            fields: Vec::new(),
        }
    }

    /// A 422 listing what is wrong with the request.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let detail = fields
            .iter()
            .map(|f| f.msg.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            fields,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, detail = %self.detail, "request failed");
        }
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            let fields = if self.fields.is_empty() {
                vec![FieldError::new(&["body"], "value_error", self.detail)]
            } else {
                self.fields
            };
            return (self.status, Json(Detail { detail: fields })).into_response();
        }
        (
            self.status,
            Json(Detail {
                detail: self.detail,
            }),
        )
            .into_response()
    }
}

/// Every error's body: `{"detail": "what was wrong"}`, or for a 422 the
/// list of field errors.
#[derive(Debug, Serialize)]
pub struct Detail<T> {
    pub detail: T,
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        use LogError::*;
        // A full or read-only disk is the machine's state, not a bug: say
        // so, and that reads still work.
        match e.disk_trouble() {
            Some(crate::log::DiskTrouble::Full) => {
                return ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!("the disk is full; nothing was written (reads still work; free space and retry): {e}"),
                )
            }
            Some(crate::log::DiskTrouble::ReadOnly) => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the data directory is read-only; nothing was written (reads still work): {e}"),
                )
            }
            None => {}
        }
        let status = match &e {
            InvalidSubject { .. } | InvalidConfig(_) | InvalidDuration(_) | InvalidMsgId(_) => {
                StatusCode::BAD_REQUEST
            }
            StreamNotFound(_)
            | MessageNotFound { .. }
            | NoMessageForSubject { .. }
            | ConsumerNotFound { .. }
            | NotPending { .. } => StatusCode::NOT_FOUND,
            StreamExists(_)
            | SubjectsOverlap { .. }
            | ConsumerExists { .. }
            | WrongStream { .. }
            | WrongLastSequence { .. }
            | WrongLastSubjectSequence { .. }
            | NoStream { .. }
            | NotFollowed => StatusCode::CONFLICT,
            Protected { .. } => StatusCode::FORBIDDEN,
            MessageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            StreamFull { .. } | DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Corrupt(_)
            | FormatTooNew { .. }
            | DataDirInUse(_)
            | ForeignDataDir(_)
            | DamagedStore(_)
            | Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("invalid query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("invalid path: {}", r.body_text()))
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is too large".to_string()
        } else {
            format!("could not read the request body: {}", r.body_text())
        };
        ApiError::new(status, detail)
    }
}

/// JSON body errors: syntax is 400, a well-formed body of the wrong shape
/// is 422 (what FastAPI and axum both answer).
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("request body is not valid JSON: {e}"))
            }
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid request body: {e}"),
            ),
        }
    }
}

impl From<CoordError> for ApiError {
    fn from(e: CoordError) -> Self {
        use CoordError::*;
        let status = match &e {
            Storage(inner) => return storage_error(inner),
            Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MissingAgent | Blocked(_) | Cycle(_) => StatusCode::BAD_REQUEST,
            TaskNotFound | NotClaimable { .. } | NotClaimed | AgentNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            NotOwner { .. } => StatusCode::FORBIDDEN,
            Held(_) | Finished(_) | StaleToken { .. } | Reserved(_) | SlotFull(_) => {
                StatusCode::CONFLICT
            }
            Paused => StatusCode::SERVICE_UNAVAILABLE,
            Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::streams::generic::StreamError> for ApiError {
    fn from(e: crate::streams::generic::StreamError) -> Self {
        match e {
            crate::streams::generic::StreamError::Log(e) => e.into(),
            crate::streams::generic::StreamError::Port(e) => storage_error(&e),
        }
    }
}

/// What storage said, for coordination's writes and reads. A full or
/// unwritable store is the machine's state, not a bug: say so, and that
/// reads still work.
fn storage_error(e: &crate::streams::PortError) -> ApiError {
    use crate::streams::PortError::*;
    match e {
        Full(detail) => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("the disk is full; nothing was written (reads still work; free space and retry): {detail}"),
        ),
        Unavailable(detail) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage cannot take writes now; nothing was written (reads still work): {detail}"),
        ),
        Conflict { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; try again")),
        Invalid(detail) => ApiError::new(StatusCode::BAD_REQUEST, detail.clone()),
        NotFound(detail) | Corrupt(detail) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, detail.clone())
        }
    }
}

/// One entry of FastAPI's 422 `detail` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: loc
                .iter()
                .map(|s| Value::String((*s).to_string()))
                .collect(),
            msg: msg.into(),
            kind,
            input: None,
        }
    }

    pub(super) fn with_input(mut self, input: &Value) -> Self {
        self.input = Some(input.clone());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_read_only_disk_is_not_a_500() {
        let io = |kind| LogError::Storage(sled::Error::Io(std::io::Error::from(kind)));
        let full = ApiError::from(io(std::io::ErrorKind::StorageFull));
        assert_eq!(full.status, StatusCode::INSUFFICIENT_STORAGE);
        assert!(full.detail.contains("disk is full"));
        let ro = ApiError::from(io(std::io::ErrorKind::ReadOnlyFilesystem));
        assert_eq!(ro.status, StatusCode::SERVICE_UNAVAILABLE);
        let other = ApiError::from(io(std::io::ErrorKind::InvalidData));
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
