//! Length-prefixed prost codec for the request-response protocols.
//!
//! A frame is an unsigned-varint length (as in the libp2p specs) followed by that many
//! bytes of one prost message. The length is checked against the cap before any buffer is
//! allocated, so a hostile peer cannot make us reserve memory by announcing a huge frame.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use prost::Message;

use super::MessageKind;

/// Longest varint we read: 10 bytes cover every u64.
const MAX_VARINT_BYTES: usize = 10;

/// A frame announced or produced larger than its cap; carried inside `io::Error` so the
/// swarm task can turn it back into `NetError::TooLarge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameTooLarge {
    pub(super) kind: MessageKind,
    pub(super) len: u64,
    pub(super) max: u64,
}

impl std::fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} bytes exceeds the limit of {} bytes",
            self.kind, self.len, self.max
        )
    }
}

impl std::error::Error for FrameTooLarge {}

impl FrameTooLarge {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The size error inside an `io::Error` produced by this codec, if that is what it is.
    pub(super) fn from_io(error: &io::Error) -> Option<Self> {
        error.get_ref()?.downcast_ref::<Self>().copied()
    }
}

/// Codec for one request/response pair of prost messages with size caps.
pub(super) struct ProstCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    // fn() keeps the codec Send + Sync whatever the message types are.
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> ProstCodec<Req, Resp> {
    pub(super) fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
            _messages: PhantomData,
        }
    }
}

// Manual impl: a derive would require `Req: Clone, Resp: Clone`, which the codec never needs.
impl<Req, Resp> Clone for ProstCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

impl<Req, Resp> request_response::Codec for ProstCodec<Req, Resp>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request, MessageKind::Request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response, MessageKind::Response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request, MessageKind::Request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response, MessageKind::Response).await
    }
}

/// Reads one frame, refusing a length above `max` before allocating.
pub(super) async fn read_frame<T, M>(io: &mut T, max: usize, kind: MessageKind) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: Message + Default,
{
    let len = read_varint(io).await?;
    if len > max as u64 {
        return Err(FrameTooLarge {
            kind,
            len,
            max: max as u64,
        }
        .into_io());
    }
    // `len <= max`, and `max` is a usize, so the conversion cannot truncate.
    let mut buf = vec![0u8; len as usize];
    io.read_exact(&mut buf).await?;
    pdc_proto::decode_bounded(&buf, max)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Writes one frame, refusing a message above `max` (the peer would refuse it anyway).
pub(super) async fn write_frame<T, M>(
    io: &mut T,
    message: &M,
    max: usize,
    kind: MessageKind,
) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Message,
{
    let len = message.encoded_len();
    if len > max {
        return Err(FrameTooLarge {
            kind,
            len: len as u64,
            max: max as u64,
        }
        .into_io());
    }
    let mut buf = Vec::with_capacity(len + MAX_VARINT_BYTES);
    prost::encoding::encode_varint(len as u64, &mut buf);
    message
        .encode(&mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    io.write_all(&buf).await?;
    io.flush().await
}

async fn read_varint<T>(io: &mut T) -> io::Result<u64>
where
    T: AsyncRead + Unpin + Send,
{
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let bits = u64::from(byte[0] & 0x7f);
        // The 10th byte may only carry the one bit left of a u64.
        if i == MAX_VARINT_BYTES - 1 && bits > 1 {
            break;
        }
        value |= bits << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "frame length is not a valid unsigned varint",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use pdc_proto::wire::{DataRequest, DataResponse};

    fn frame(len: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(len, &mut out);
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn round_trip() {
        let req = DataRequest {
            request_id: vec![1; 16],
            query: "diabetes".into(),
            purpose: "treatment".into(),
            staff_user: "dr-a".into(),
        };
        let mut out = Cursor::new(Vec::new());
        write_frame(&mut out, &req, 1024, MessageKind::Request)
            .await
            .unwrap();
        let mut input = Cursor::new(out.into_inner());
        let back: DataRequest = read_frame(&mut input, 1024, MessageKind::Request)
            .await
            .unwrap();
        assert_eq!(back, req);
    }

    #[tokio::test]
    async fn announced_oversize_frame_is_refused_before_reading() {
        // Announces 2 MiB but carries nothing: the cap must trip before any read/alloc.
        let mut input = Cursor::new(frame(2 * 1024 * 1024, &[]));
        let err = read_frame::<_, DataRequest>(&mut input, 1024 * 1024, MessageKind::Request)
            .await
            .unwrap_err();
        assert_eq!(
            FrameTooLarge::from_io(&err),
            Some(FrameTooLarge {
                kind: MessageKind::Request,
                len: 2 * 1024 * 1024,
                max: 1024 * 1024
            })
        );
    }

    #[tokio::test]
    async fn huge_varint_length_is_refused() {
        let mut input = Cursor::new(frame(u64::MAX, &[]));
        let err = read_frame::<_, DataResponse>(&mut input, 8 << 20, MessageKind::Response)
            .await
            .unwrap_err();
        assert_eq!(FrameTooLarge::from_io(&err).map(|e| e.len), Some(u64::MAX));
    }

    #[tokio::test]
    async fn overlong_varint_is_malformed() {
        let mut input = Cursor::new(vec![0xff; 11]);
        let err = read_frame::<_, DataRequest>(&mut input, 1024, MessageKind::Request)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(FrameTooLarge::from_io(&err).is_none());
    }

    #[tokio::test]
    async fn truncated_frame_is_eof() {
        let mut input = Cursor::new(frame(10, &[1, 2, 3]));
        let err = read_frame::<_, DataRequest>(&mut input, 1024, MessageKind::Request)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn garbage_body_is_invalid_data() {
        let mut input = Cursor::new(frame(3, &[0xff, 0xff, 0xff]));
        let err = read_frame::<_, DataRequest>(&mut input, 1024, MessageKind::Request)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn oversize_write_is_refused() {
        let req = DataRequest {
            query: "x".repeat(2000),
            ..Default::default()
        };
        let mut out = Cursor::new(Vec::new());
        let err = write_frame(&mut out, &req, 1024, MessageKind::Request)
            .await
            .unwrap_err();
        let too_large = FrameTooLarge::from_io(&err).unwrap();
        assert_eq!(too_large.kind, MessageKind::Request);
        assert!(too_large.len > 1024);
        assert!(out.into_inner().is_empty(), "nothing may be written");
    }
}
