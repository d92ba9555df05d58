//! Netlink messages as bytes: a batch writer and an attribute reader.
//!
//! Messages are serialised by hand (header, `nfgenmsg`, TLV attributes,
//! 4-byte aligned) straight into one buffer, so a batch of 100k rules costs
//! one allocation that grows and one `send`.

use crate::abi::*;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A growing buffer of netlink messages.
#[derive(Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
    /// Number of messages written.
    pub count: usize,
}

impl Writer {
    /// Appends one message with an `nfgenmsg` header; `attrs` writes its
    /// attributes. Returns the message's offset.
    pub fn msg(
        &mut self,
        ty: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
        attrs: impl FnOnce(&mut Attrs),
    ) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // length, patched below
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        attrs(&mut Attrs { buf: &mut self.buf });
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.count += 1;
        start
    }

    /// An nf_tables message: `NFNL_SUBSYS_NFTABLES << 8 | ty`, family inet.
    pub fn nft(&mut self, ty: u16, flags: u16, seq: u32, attrs: impl FnOnce(&mut Attrs)) -> usize {
        self.msg(NFNL_SUBSYS_NFTABLES << 8 | ty, flags, seq, NFPROTO_INET, 0, attrs)
    }
}

/// Writes attributes at the end of a buffer.
pub(crate) struct Attrs<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl Attrs<'_> {
    pub fn bytes(&mut self, ty: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        let n = align4(self.buf.len()) - self.buf.len();
        self.buf.extend_from_slice(&[0; 3][..n]);
    }

    pub fn u32(&mut self, ty: u16, v: u32) {
        self.bytes(ty, &v.to_be_bytes());
    }

    pub fn u64(&mut self, ty: u16, v: u64) {
        self.bytes(ty, &v.to_be_bytes());
    }

    /// A NUL-terminated string, as the kernel's NLA_STRING wants.
    pub fn str(&mut self, ty: u16, s: &str) {
        let len = 4 + s.len() + 1;
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    pub fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        inner(&mut Attrs { buf: self.buf });
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Copies attributes read from a dump, less those `skip` names.
    pub fn copy_from(&mut self, raw: &[u8], skip: &[u16]) {
        // The type keeps its nested flag: the bytes stay what the kernel gave.
        for (ty, data) in attrs_raw(raw) {
            if !skip.contains(&(ty & NLA_TYPE_MASK)) {
                self.bytes(ty, data);
            }
        }
    }
}

/// The attributes in `buf`, as (type without flags, payload).
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    attrs_raw(buf).map(|(ty, data)| (ty & NLA_TYPE_MASK, data))
}

/// The attributes in `buf`, as (type with flags, payload).
pub(crate) fn attrs_raw(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        let data = &rest[4..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, data))
    })
}

pub(crate) fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _)| *t == ty).map(|(_, d)| d)
}

pub(crate) fn attr_str(buf: &[u8], ty: u16) -> Option<String> {
    let d = attr(buf, ty)?;
    let d = d.split(|&b| b == 0).next().unwrap_or(d);
    Some(String::from_utf8_lossy(d).into_owned())
}

pub(crate) fn attr_u32(buf: &[u8], ty: u16) -> Option<u32> {
    let d = attr(buf, ty)?;
    Some(u32::from_be_bytes(d.get(..4)?.try_into().ok()?))
}

pub(crate) fn attr_u64(buf: &[u8], ty: u16) -> Option<u64> {
    let d = attr(buf, ty)?;
    Some(u64::from_be_bytes(d.get(..8)?.try_into().ok()?))
}

/// One message received from the kernel.
pub(crate) struct Received<'a> {
    pub ty: u16,
    pub seq: u32,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

impl Received<'_> {
    /// For an nfnetlink message, the attributes after `nfgenmsg`.
    pub fn nft_attrs(&self) -> &[u8] {
        self.payload.get(4..).unwrap_or(&[])
    }

    /// For NLMSG_ERROR: the errno (0 for an ack) and the sequence number of
    /// the message it answers.
    pub fn error(&self) -> Option<(i32, u32)> {
        if self.ty != NLMSG_ERROR || self.payload.len() < 4 + NLMSG_HDRLEN {
            return None;
        }
        let err = i32::from_ne_bytes(self.payload[..4].try_into().ok()?);
        let seq = u32::from_ne_bytes(self.payload[12..16].try_into().ok()?);
        Some((-err, seq))
    }
}

/// The messages in one datagram.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Received<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let msg = Received {
            ty: u16::from_ne_bytes([rest[4], rest[5]]),
            seq: u32::from_ne_bytes(rest[8..12].try_into().ok()?),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[align4(len).min(rest.len())..];
        Some(msg)
    })
}
