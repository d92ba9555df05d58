//! The netfilter netlink socket, opened in a chosen network namespace.
//!
//! The socket is made with nix rather than neli's `NlSocket` because a big
//! batch needs `SO_SNDBUFFORCE`, which takes a borrowed fd that neli does
//! not hand out without `unsafe`. A socket keeps the namespace it was
//! created in, so a short-lived thread enters the namespace, creates it and
//! exits, and the caller's threads never move.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

use crate::abi::*;
use crate::error::RuntimeError;
use crate::msg::{self, Writer};

pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

/// A reply to a request: its messages' nfnetlink attributes, or an errno.
pub(crate) type Reply = Result<Vec<Vec<u8>>, Errno>;

impl Socket {
    pub fn open(netns: Option<&str>) -> Result<Socket, RuntimeError> {
        let fd = match netns {
            None => new_fd()?,
            Some(name) => {
                let name = name.to_string();
                std::thread::spawn(move || {
                    crate::netns::enter(&name)?;
                    new_fd()
                })
                .join()
                .map_err(|_| RuntimeError::io("socket", "namespace thread panicked"))??
            }
        };
        // Errors of a large batch can be many; a dropped answer would be a
        // silent failure, so make room.
        let _ = socket::setsockopt(&fd, sockopt::RcvBufForce, &(8 << 20));
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        let mut sock = Socket { fd, seq, buf: vec![0; 1 << 20] };
        // One cheap request first, so that a missing nf_tables or missing
        // privileges are said as such, not as the failure of whatever
        // request happened to come first.
        let probe = sock.request(NFT_MSG_GETGEN, 0, |_| {})?;
        probed(probe)?;
        Ok(sock)
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Makes sure one `send` of `len` bytes fits the socket buffer: the
    /// kernel handles a batch only if it arrives in one message.
    pub fn reserve(&self, len: usize) -> Result<(), RuntimeError> {
        if len > 128 << 10 {
            let want = len.saturating_add(64 << 10).min(i32::MAX as usize / 2);
            socket::setsockopt(&self.fd, sockopt::SndBufForce, &want)
                .map_err(sock_err("setsockopt"))?;
        }
        Ok(())
    }

    pub fn send(&self, buf: &[u8]) -> Result<(), RuntimeError> {
        let n =
            socket::send(self.fd.as_raw_fd(), buf, MsgFlags::empty()).map_err(sock_err("send"))?;
        if n != buf.len() {
            return Err(RuntimeError::io("send", format!("sent {n} of {} bytes", buf.len())));
        }
        Ok(())
    }

    /// Receives one datagram and calls `each` on its messages; returns
    /// whether `each` asked to stop.
    pub fn recv(
        &mut self,
        mut each: impl FnMut(msg::Received) -> bool,
    ) -> Result<bool, RuntimeError> {
        let n = loop {
            match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sock_err("recv")(e)),
            }
        };
        let mut stop = false;
        for m in msg::messages(&self.buf[..n]) {
            if each(m) {
                stop = true;
            }
        }
        Ok(stop)
    }

    /// Sends one request and collects its answer: every reply message's
    /// attributes for a dump, or the one reply, or the kernel's errno.
    pub fn request(
        &mut self,
        ty: u16,
        flags: u16,
        attrs: impl FnOnce(&mut msg::Attrs),
    ) -> Result<Reply, RuntimeError> {
        let seq = self.next_seq();
        let mut w = Writer::default();
        w.nft(ty, flags | NLM_F_ACK, seq, attrs);
        self.send(w.bytes()?)?;
        let mut out = Vec::new();
        let mut err = 0;
        loop {
            let done = self.recv(|m| {
                if m.seq != seq {
                    return false;
                }
                if let Some((e, _)) = m.error() {
                    err = e;
                    return true;
                }
                if m.ty == NLMSG_DONE {
                    return true;
                }
                out.push(m.nft_attrs().to_vec());
                // A plain request ends with its ack, a dump with DONE.
                false
            })?;
            if done {
                break;
            }
        }
        Ok(if err != 0 { Err(Errno::from_raw(err)) } else { Ok(out) })
    }

    /// The ruleset's generation id, which a batch can be made conditional on.
    pub fn genid(&mut self) -> Result<u32, RuntimeError> {
        let reply = self.request(NFT_MSG_GETGEN, 0, |_| {})?;
        let msgs = reply.map_err(errno_err("reading the generation id"))?;
        msgs.iter()
            .find_map(|a| msg::attr_u32(a, NFTA_GEN_ID))
            .ok_or_else(|| RuntimeError::io("getgen", "no generation id in the answer"))
    }
}

/// What the first request on a socket says about the kernel: nfnetlink
/// answers EINVAL for a subsystem it does not have (nf_tables neither built
/// in nor loadable), and EPERM to a caller without CAP_NET_ADMIN.
fn probed(reply: Reply) -> Result<(), RuntimeError> {
    match reply {
        Ok(_) => Ok(()),
        Err(Errno::EINVAL | Errno::EOPNOTSUPP) => Err(RuntimeError::NoNfTables),
        Err(e) => Err(errno_err("reading the generation id")(e)),
    }
}

fn new_fd() -> Result<OwnedFd, RuntimeError> {
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| match e {
        // No nfnetlink at all: the kernel has no netfilter netlink family.
        Errno::EPROTONOSUPPORT | Errno::EAFNOSUPPORT => RuntimeError::NoNfTables,
        e => sock_err("socket")(e),
    })?;
    socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(sock_err("bind"))?;
    Ok(fd)
}

fn sock_err(what: &'static str) -> impl Fn(Errno) -> RuntimeError {
    move |e| match e {
        Errno::EPERM => RuntimeError::Permission,
        e => RuntimeError::io(what, e.desc().to_lowercase()),
    }
}

pub(crate) fn errno_err(what: &'static str) -> impl Fn(Errno) -> RuntimeError {
    move |e| match e {
        Errno::EPERM => RuntimeError::Permission,
        e => RuntimeError::io(what, e.desc().to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_says_what_the_kernel_lacks() {
        assert!(probed(Ok(Vec::new())).is_ok());
        assert!(matches!(probed(Err(Errno::EINVAL)), Err(RuntimeError::NoNfTables)));
        assert!(matches!(probed(Err(Errno::EOPNOTSUPP)), Err(RuntimeError::NoNfTables)));
        assert!(matches!(probed(Err(Errno::EPERM)), Err(RuntimeError::Permission)));
        let other = probed(Err(Errno::EBUSY)).unwrap_err();
        assert_eq!(
            other.to_string(),
            "netlink reading the generation id failed: device or resource busy"
        );
    }
}
