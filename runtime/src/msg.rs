//! Netlink messages as bytes: a batch writer and an attribute reader.
//!
//! Messages are serialised by hand (header, `nfgenmsg`, TLV attributes,
//! 4-byte aligned) straight into one buffer, so a batch of 100k rules costs
//! one allocation and one `send`; a table written whole reserves an upper
//! bound of its bytes first ([`Writer::reserve`]).

use crate::abi::*;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Attribute bytes being written, and the first length that did not fit
/// netlink's 16-bit attribute length. The error travels with the bytes, so
/// the closures that write attributes stay infallible and the batch is
/// refused before it is sent.
#[derive(Default)]
pub(crate) struct Buf {
    pub bytes: Vec<u8>,
    too_long: Option<usize>,
}

impl Buf {
    /// Attributes written by `f` into a buffer of their own, to be placed
    /// later with [`Attrs::append`].
    pub fn build(f: impl FnOnce(&mut Attrs)) -> Buf {
        let mut buf = Buf::default();
        f(&mut Attrs { buf: &mut buf });
        buf
    }

    /// [`Buf::build`] into this buffer, emptied first: a buffer written
    /// again and again (a rule's expressions, rule after rule) keeps its
    /// room instead of growing from nothing each time.
    pub fn rebuild(&mut self, f: impl FnOnce(&mut Attrs)) {
        self.bytes.clear();
        self.too_long = None;
        f(&mut Attrs { buf: self });
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// A length that does not fit 16 bits is recorded, and 0 written in
    /// its place, which the kernel would refuse anyway.
    fn len16(&mut self, n: usize) -> u16 {
        u16::try_from(n).unwrap_or_else(|_| {
            self.too_long.get_or_insert(n);
            0
        })
    }
}

/// An attribute or message longer than netlink can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLong(pub usize);

/// A growing buffer of netlink messages.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Buf,
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
        let b = &mut self.buf.bytes;
        let start = b.len();
        b.extend_from_slice(&[0; 4]); // length, patched below
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        b.extend_from_slice(&[family, 0]);
        b.extend_from_slice(&res_id.to_be_bytes());
        attrs(&mut Attrs { buf: &mut self.buf });
        let len = self.buf.bytes.len() - start;
        let len32 = u32::try_from(len).unwrap_or_else(|_| {
            self.buf.too_long.get_or_insert(len);
            0
        });
        self.buf.bytes[start..start + 4].copy_from_slice(&len32.to_ne_bytes());
        self.count += 1;
        start
    }

    /// Room for `more` bytes of messages. Pages not yet written are not
    /// resident, so an upper bound costs nothing, while growing by doubling
    /// kept the old copies alongside (a 47 MiB batch of 100k rules held
    /// about 80 MiB while it was written).
    pub fn reserve(&mut self, more: usize) {
        self.buf.bytes.reserve(more);
    }

    /// An nf_tables message: `NFNL_SUBSYS_NFTABLES << 8 | ty`, family inet.
    pub fn nft(&mut self, ty: u16, flags: u16, seq: u32, attrs: impl FnOnce(&mut Attrs)) -> usize {
        self.msg(NFNL_SUBSYS_NFTABLES << 8 | ty, flags, seq, NFPROTO_INET, 0, attrs)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites the big-endian `u32` attribute value written at `at`.
    pub fn set_u32(&mut self, at: usize, v: u32) {
        self.buf.bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// The messages, unless a length did not fit.
    pub fn bytes(&self) -> Result<&[u8], TooLong> {
        match self.buf.too_long {
            Some(n) => Err(TooLong(n)),
            None => Ok(&self.buf.bytes),
        }
    }

    /// The bytes written so far, checked or not: for tests that look inside.
    #[cfg(test)]
    pub fn raw(&self) -> &[u8] {
        &self.buf.bytes
    }
}

/// An attribute's header: its length (header included, padding not) and
/// its type.
fn header(len: u16, ty: u16) -> [u8; 4] {
    let [l0, l1] = len.to_ne_bytes();
    let [t0, t1] = ty.to_ne_bytes();
    [l0, l1, t0, t1]
}

/// Writes attributes at the end of a buffer.
pub(crate) struct Attrs<'a> {
    buf: &'a mut Buf,
}

impl Attrs<'_> {
    pub fn bytes(&mut self, ty: u16, data: &[u8]) {
        let len = self.buf.len16(4 + data.len());
        let b = &mut self.buf.bytes;
        debug_assert_eq!(b.len() % 4, 0, "every attribute starts aligned");
        // One reservation for the whole attribute: a batch writes millions.
        let padded = align4(4 + data.len());
        b.reserve(padded);
        b.extend_from_slice(&header(len, ty));
        b.extend_from_slice(data);
        b.extend_from_slice(&[0; 3][..padded - 4 - data.len()]);
    }

    fn pad(&mut self) {
        let b = &mut self.buf.bytes;
        let n = align4(b.len()) - b.len();
        b.extend_from_slice(&[0; 3][..n]);
    }

    /// A 32-bit attribute in network order, written as one 8-byte piece.
    pub fn u32(&mut self, ty: u16, v: u32) {
        let [l0, l1, t0, t1] = header(8, ty);
        let [v0, v1, v2, v3] = v.to_be_bytes();
        self.buf.bytes.extend_from_slice(&[l0, l1, t0, t1, v0, v1, v2, v3]);
    }

    pub fn u64(&mut self, ty: u16, v: u64) {
        self.bytes(ty, &v.to_be_bytes());
    }

    /// A NUL-terminated string, as the kernel's NLA_STRING wants.
    pub fn str(&mut self, ty: u16, s: &str) {
        let len = self.buf.len16(4 + s.len() + 1);
        let b = &mut self.buf.bytes;
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        self.pad();
    }

    pub fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) {
        let start = self.buf.bytes.len();
        self.buf.bytes.extend_from_slice(&[0, 0]);
        self.buf.bytes.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        inner(&mut Attrs { buf: self.buf });
        let len = self.buf.len16(self.buf.bytes.len() - start);
        self.buf.bytes[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Places attributes written earlier with [`Buf::build`].
    pub fn append(&mut self, other: &Buf) {
        self.buf.bytes.extend_from_slice(&other.bytes);
        if let Some(n) = other.too_long {
            self.buf.too_long.get_or_insert(n);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute as netlink lays it out: length and type, the data,
    /// zeros to the next multiple of four.
    fn plain(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut v = ((4 + data.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(align4(v.len()), 0);
        v
    }

    proptest::proptest! {
        /// The writers' one-piece paths lay attributes out as netlink
        /// does, one after another.
        #[test]
        fn attributes_are_laid_out_as_netlink_says(
            ty in 1u16..0x7fff,
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            word in proptest::num::u32::ANY,
            long in proptest::num::u64::ANY,
        ) {
            let buf = Buf::build(|a| {
                a.bytes(ty, &data);
                a.u32(ty, word);
                a.u64(ty, long);
                a.str(ty, "x");
            });
            let mut want = plain(ty, &data);
            want.extend(plain(ty, &word.to_be_bytes()));
            want.extend(plain(ty, &long.to_be_bytes()));
            want.extend(plain(ty, b"x\0"));
            proptest::prop_assert_eq!(buf.bytes, want);
        }
    }

    #[test]
    fn an_attribute_too_long_for_netlink_refuses_the_batch() {
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWRULE, 0, 1, |a| a.nest(1, |n| n.bytes(2, &[0; 70_000])));
        assert_eq!(w.bytes().err(), Some(TooLong(70_004)));
        let mut w = Writer::default();
        let inner = Buf::build(|a| a.bytes(2, &[0; 65_532]));
        w.nft(NFT_MSG_NEWRULE, 0, 1, |a| a.append(&inner));
        assert_eq!(w.bytes().err(), Some(TooLong(65_536)));
        let mut w = Writer::default();
        w.nft(NFT_MSG_NEWRULE, 0, 1, |a| a.nest(1, |n| n.bytes(2, &[0; 65_000])));
        let bytes = w.bytes().expect("fits");
        let m = messages(bytes).next().expect("one message");
        assert_eq!(attr(m.nft_attrs(), 1).map(|n| n.len()), Some(65_004));
    }
}
