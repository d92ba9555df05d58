//! The day-2 cache: the elements of a table's large maps as `apply` left
//! them, so that the next `apply` or `plan` need not dump them again.
//!
//! Reading a named set back is the dearest part of reading a table: the
//! kernel answers a dump in 32 KiB pieces and walks the set from its start
//! for each piece, so a map of 100,000 elements costs it a quadratic walk.
//! Yet right after a commit of `apply`'s, each set of the table holds
//! exactly the desired set's elements. So after a commit `apply` keeps, per
//! table, each plain named set's elements (encoded as the kernel dumps
//! them, so that `decode` reads them as it reads a dump) with the set's
//! description as the kernel gave it right after the commit, and the
//! generation id that commit made; in a file under the run directory (`dir`), per network
//! namespace and table, written atomically, owned by root.
//!
//! A later reading uses a set's cached elements only when the generation
//! id it began at is still the cached one (no commit at all since, by
//! anyone: `nft`, another policy, a confirm window's rollback), the file
//! is whole (its checksum holds), it was made in this network namespace
//! during this boot, and the set's description, read afresh, is byte for
//! byte the cached one (the set's handle among it). Anything else, and the
//! set is dumped as before: the cache can make a reading cheaper, never
//! different. The batch made from the reading stays guarded by the same
//! generation id, so a commit made meanwhile is refused, as for any
//! reading.
//!
//! Only sets that change by commits alone are cached: not an interval set
//! (the kernel's form of intervals is its own), not one filled from the
//! packet path or whose elements time out, not one of two that go by the
//! same policy name (a staged set left over beside the one in use). A map
//! made anew beside the old one is cached under its staged name, the
//! kernel's. Element counters are not cached: a cached reading carries no
//! element counts for a cached set.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use shriek_compiler::nft;

use crate::abi::*;
use crate::decode::staged;
use crate::desired::Desired;
use crate::encode::{self, Batch};
use crate::msg::{self, Buf};
use crate::socket::Socket;

/// Where the cache files are: `day2` in the run directory (as for
/// `apply --confirm`: `SHRIEKC_RUN_DIR`, else /run/shriekc, a tmpfs gone
/// at reboot).
fn dir() -> PathBuf {
    std::env::var_os("SHRIEKC_RUN_DIR")
        .map_or_else(|| PathBuf::from("/run/shriekc"), PathBuf::from)
        .join("day2")
}

/// Set to anything, and nothing is read from the cache nor written to it.
pub(crate) const OFF: &str = "SHRIEKC_NO_CACHE";

const MAGIC: &[u8] = b"shriekc day-2 cache 1\n";

/// One table's cached sets, by the kernel's name of each set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableCache {
    sets: HashMap<String, CachedSet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct CachedSet {
    /// The set's attributes as the kernel dumped them after the commit.
    header: Vec<u8>,
    /// GETSETELEM-like answers: each message's attributes.
    elements: Vec<Vec<u8>>,
}

impl TableCache {
    /// The elements of set `name` when the cache holds them for the set
    /// the kernel describes as `header`.
    pub(crate) fn elements(&self, name: &str, header: &[u8]) -> Option<Vec<Vec<u8>>> {
        let set = self.sets.get(name)?;
        (set.header == header).then(|| set.elements.clone())
    }

    /// Keeps only the sets that `keep` names.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.sets.retain(|name, _| keep(name));
    }

    /// Set `name`'s elements as a commit leaves them that deleted its
    /// elements keyed `gone` (each key as `encode::key_bytes` writes it) and
    /// added the elements of messages `came` ([`element_messages`]): the
    /// messages holding none of `gone` stay as they are, the others lose
    /// those elements. Unless each key of `gone` is exactly one element of
    /// the set, the set leaves the cache, so that it is encoded anew.
    pub(crate) fn edit(&mut self, name: &str, gone: &HashSet<Vec<u8>>, came: Vec<Vec<u8>>) {
        let Some(set) = self.sets.get_mut(name) else { return };
        let mut found = 0;
        let mut whole = true;
        set.elements.retain_mut(|m| match without(m, gone) {
            None => {
                whole = false;
                true
            }
            Some((0, _)) => true,
            Some((n, rest)) => {
                found += n;
                rest.map(|rest| *m = rest).is_some()
            }
        });
        if whole && found == gone.len() {
            set.elements.extend(came);
        } else {
            self.sets.remove(name);
        }
    }

    /// Set `name`'s elements, taken out, when the cache holds them for the
    /// set the kernel describes as `header`.
    fn take(&mut self, name: &str, header: &[u8]) -> Option<Vec<Vec<u8>>> {
        let set = self.sets.remove(name)?;
        (set.header == header).then_some(set.elements)
    }
}

/// How many elements of message `m` (a NEWSETELEM message's attributes)
/// `gone` names, and the message without them (`None` when none is left);
/// `None` for a message that does not read as one.
fn without(m: &[u8], gone: &HashSet<Vec<u8>>) -> Option<(usize, Option<Vec<u8>>)> {
    let (_, list) = msg::attrs(m).find(|(ty, _)| *ty == NFTA_SET_ELEM_LIST_ELEMENTS)?;
    let mut kept = Vec::new();
    let mut dropped = 0;
    for (ty, e) in msg::attrs_raw(list) {
        let key = msg::attr(e, NFTA_SET_ELEM_KEY).and_then(|k| msg::attr(k, NFTA_DATA_VALUE))?;
        if gone.contains(key) {
            dropped += 1;
        } else {
            kept.push((ty, e));
        }
    }
    if dropped == 0 || kept.is_empty() {
        return Some((dropped, None));
    }
    let rest = Buf::build(|a| {
        a.copy_from(m, &[NFTA_SET_ELEM_LIST_ELEMENTS]);
        a.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |l| {
            for (ty, e) in &kept {
                l.bytes(*ty, e);
            }
        });
    });
    Some((dropped, Some(rest.bytes)))
}

/// Which network namespace, during which boot: its nsfs inode and when
/// that inode was made, which a namespace made again with the same name
/// (or, later, the same inode number) does not share.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Netns {
    boot: String,
    dev: u64,
    ino: u64,
    made: (i64, i64),
}

impl Netns {
    fn now(netns: Option<&str>) -> Option<Netns> {
        let path = match netns {
            Some(name) => PathBuf::from("/run/netns").join(name),
            None => PathBuf::from("/proc/self/ns/net"),
        };
        let m = std::fs::metadata(path).ok()?;
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(Netns {
            boot: boot.trim().to_string(),
            dev: m.dev(),
            ino: m.ino(),
            made: (m.ctime(), m.ctime_nsec()),
        })
    }

    fn file(&self, table: &str) -> PathBuf {
        let hex: String = table.bytes().map(|b| format!("{b:02x}")).collect();
        dir().join(format!("{:x}-{:x}-{hex}", self.dev, self.ino))
    }
}

fn enabled() -> bool {
    std::env::var_os(OFF).is_none()
}

/// The cache of table `table` in `netns`, when it is exact at generation
/// `genid`; `None` for a missing, stale, foreign or damaged file.
pub(crate) fn load(netns: Option<&str>, table: &str, genid: u32) -> Option<TableCache> {
    if !enabled() {
        return None;
    }
    let ns = Netns::now(netns)?;
    let path = ns.file(table);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    // Only a file this user made and no one else can write (/proc/self
    // belongs to the process's effective user).
    if !meta.is_file() || !private(&path) {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    let (cached_ns, cached_table, cached_genid, cache) = parse(&bytes)?;
    (cached_ns == ns && cached_table == table && cached_genid == genid).then_some(cache)
}

/// Path of the cache file of `table` in `netns` (tests damage it).
pub fn path(netns: Option<&str>, table: &str) -> Option<PathBuf> {
    Some(Netns::now(netns)?.file(table))
}

/// After `apply` committed the batch that made generation `after`: keeps
/// the plain named sets of each desired table as the commit left them.
/// Best effort: anything unexpected (another commit came in between, a
/// file that cannot be written) leaves no cache, and a stale one is
/// removed.
///
/// `untouched` holds, per table, the cached sets of the reading the batch
/// was made from that the batch did not touch: their elements are the
/// ones the cache held (the reading took them from it at the generation
/// that guarded the batch), so they are kept as they are, not encoded
/// again from the desired set, when the set's description is still the
/// cached one.
pub(crate) fn record(
    sock: &mut Socket,
    netns: Option<&str>,
    desired: &Desired,
    after: u32,
    mut untouched: Vec<(String, TableCache)>,
) {
    if !enabled() {
        return;
    }
    let Some(ns) = Netns::now(netns) else { return };
    let files: Vec<PathBuf> = desired.ruleset.tables.iter().map(|t| ns.file(&t.name)).collect();
    let made = (|| {
        if sock.genid().ok()? != after {
            return None;
        }
        let mut out = Vec::new();
        for t in &desired.ruleset.tables {
            let reuse = untouched.iter_mut().find(|(name, _)| *name == t.name).map(|(_, c)| c);
            out.push(table_bytes(sock, &ns, t, after, reuse)?);
        }
        // Nothing was committed while the descriptions were read.
        (sock.genid().ok()? == after).then_some(out)
    })();
    let Some(contents) = made else {
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        return;
    };
    if std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir()).is_err()
        || !private(&dir())
    {
        return;
    }
    for (f, bytes) in files.iter().zip(contents) {
        if write_atomically(f, &bytes).is_err() {
            let _ = std::fs::remove_file(f);
        }
    }
    sweep();
}

/// Removes the cache files of tables `tables` in `netns` (destroyed, or
/// pruned): a file is only ever an optimisation, so removing one is
/// always safe.
pub(crate) fn forget(netns: Option<&str>, tables: &[String]) {
    let Some(ns) = Netns::now(netns) else { return };
    for t in tables {
        let _ = std::fs::remove_file(ns.file(t));
    }
}

/// Removes the cache files of network namespaces that are gone: a file is
/// named after its namespace's nsfs device and inode, and `apply` writes
/// files only for the namespaces named in /run/netns and for its own, so a
/// file whose namespace is neither (a test's or a bench's, deleted since)
/// can never be read again. That bounds the files to one per table and
/// live namespace. A namespace that is not among them (one a container
/// entered) only loses its cache, which the next `apply` there writes
/// again.
fn sweep() {
    let mut live: Vec<String> = Vec::new();
    let mut note = |path: &Path| {
        if let Ok(m) = std::fs::metadata(path) {
            live.push(format!("{:x}-{:x}-", m.dev(), m.ino()));
        }
    };
    note(Path::new("/proc/self/ns/net"));
    note(Path::new("/proc/1/ns/net"));
    if let Ok(names) = std::fs::read_dir("/run/netns") {
        for entry in names.flatten() {
            note(&entry.path());
        }
    }
    let Ok(files) = std::fs::read_dir(dir()) else { return };
    for entry in files.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !live.iter().any(|prefix| name.starts_with(prefix.as_str())) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The cache file's bytes for desired table `t`, its sets' descriptions
/// read from the kernel; a set that `reuse` holds with that description
/// keeps its elements from there.
fn table_bytes(
    sock: &mut Socket,
    ns: &Netns,
    t: &nft::Table,
    genid: u32,
    mut reuse: Option<&mut TableCache>,
) -> Option<Vec<u8>> {
    let headers =
        sock.request(NFT_MSG_GETSET, NLM_F_DUMP, |a| a.str(NFTA_SET_TABLE, &t.name)).ok()?.ok()?;
    let headers: Vec<Vec<u8>> = headers
        .into_iter()
        .filter(|h| msg::attr_str(h, NFTA_SET_TABLE).as_deref() == Some(t.name.as_str()))
        .collect();
    let name_of = |h: &[u8]| msg::attr_str(h, NFTA_SET_NAME).unwrap_or_default();
    let mut sets = Vec::new();
    // A map made anew beside the old one (`apply/beside.rs`) keeps its
    // staged name: it is the policy's set of its model name, unless
    // another set of the table goes by that name too (one left over).
    let model_of = |name: &str| staged::model_name(name).unwrap_or(name).to_string();
    for h in &headers {
        let name = name_of(h);
        let model = model_of(&name);
        let Some(s) = t.sets.iter().find(|s| s.name == model) else { continue };
        let flags = msg::attr_u32(h, NFTA_SET_FLAGS).unwrap_or(0);
        let changing = NFT_SET_ANONYMOUS | NFT_SET_INTERVAL | NFT_SET_TIMEOUT | NFT_SET_EVAL;
        let twice = headers.iter().filter(|o| model_of(&name_of(o)) == model).count() > 1;
        if s.interval || s.dynamic.is_some() || flags & changing != 0 || twice {
            continue;
        }
        let kept = reuse.as_deref_mut().and_then(|c| c.take(&name, h));
        sets.push((name, h.clone(), s, kept));
    }
    // The body is written straight after the magic and a room for its
    // checksum: a set's elements not kept from the reading are encoded
    // message by message into it (as NEWSETELEM messages' attributes,
    // which have the form of a GETSETELEM answer's), never held whole
    // anywhere else.
    // Room for the elements kept from the reading, the most of a large
    // map's file, so that the buffer is not copied as it grows.
    let kept: usize = sets
        .iter()
        .filter_map(|(.., kept)| kept.as_ref())
        .flat_map(|elements| elements.iter().map(|e| 4 + e.len()))
        .sum();
    let mut out = Vec::with_capacity(kept + 4096);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 8]);
    let start = out.len();
    blob(&mut out, ns.boot.as_bytes());
    for v in [ns.dev, ns.ino, ns.made.0 as u64, ns.made.1 as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&genid.to_le_bytes());
    blob(&mut out, t.name.as_bytes());
    out.extend_from_slice(&(sets.len() as u32).to_le_bytes());
    for (name, header, s, kept) in &sets {
        blob(&mut out, name.as_bytes());
        blob(&mut out, header);
        let count = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut n = 0u32;
        match kept {
            Some(elements) => elements.iter().for_each(|e| {
                blob(&mut out, e);
                n += 1;
            }),
            None => encode::element_attrs(&t.name, s, |e| {
                blob(&mut out, e);
                n += 1;
            })?,
        }
        out[count..count + 4].copy_from_slice(&n.to_le_bytes());
    }
    let sum = checksum(&out[start..]);
    out[start - 8..start].copy_from_slice(&sum.to_le_bytes());
    Some(out)
}

/// Elements `elements` of set `s` as NEWSETELEM messages' attributes,
/// which have the form of a GETSETELEM answer's.
pub(crate) fn element_messages(
    table: &str,
    s: &nft::Set,
    elements: &[&nft::Element],
) -> Option<Vec<Vec<u8>>> {
    let mut b = Batch::begin(0, None);
    encode::edit_elements(&mut b, table, s, &s.name, elements, true);
    let bytes = b.w.bytes().ok()?;
    Some(
        msg::messages(bytes)
            .filter(|m| m.ty & 0xff == NFT_MSG_NEWSETELEM)
            .map(|m| m.nft_attrs().to_vec())
            .collect(),
    )
}

/// Whether `path` is this user's and no one else can write to it.
fn private(path: &Path) -> bool {
    let (Ok(meta), Ok(me)) = (std::fs::symlink_metadata(path), std::fs::metadata("/proc/self"))
    else {
        return false;
    };
    meta.uid() == me.uid() && meta.mode() & 0o022 == 0
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    // A new file, never one found there (nor a link's target).
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn blob(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// FNV-1a, 64 bits: catches a cut-off or damaged file, not an attacker
/// (only root can write in the run directory).
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h ^= u64::from_le_bytes(w);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ bytes.len() as u64
}

/// A cache file's namespace, table, generation and sets; `None` for
/// anything that is not a whole file of this version.
fn parse(bytes: &[u8]) -> Option<(Netns, String, u32, TableCache)> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (sum, body) = rest.split_at_checked(8)?;
    if u64::from_le_bytes(sum.try_into().ok()?) != checksum(body) {
        return None;
    }
    let mut r = Reader { rest: body };
    let boot = String::from_utf8(r.blob()?.to_vec()).ok()?;
    let (dev, ino, secs, nanos) = (r.u64()?, r.u64()?, r.u64()? as i64, r.u64()? as i64);
    let ns = Netns { boot, dev, ino, made: (secs, nanos) };
    let genid = r.u32()?;
    let table = String::from_utf8(r.blob()?.to_vec()).ok()?;
    let mut sets = HashMap::new();
    for _ in 0..r.u32()? {
        let name = String::from_utf8(r.blob()?.to_vec()).ok()?;
        let header = r.blob()?.to_vec();
        let elements =
            (0..r.u32()?).map(|_| r.blob().map(<[u8]>::to_vec)).collect::<Option<_>>()?;
        sets.insert(name, CachedSet { header, elements });
    }
    r.rest.is_empty().then_some((ns, table, genid, TableCache { sets }))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn blob(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut body = Vec::new();
        blob(&mut body, b"boot");
        for v in [1u64, 2, 3, 4] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&7u32.to_le_bytes());
        blob(&mut body, b"t");
        body.extend_from_slice(&1u32.to_le_bytes());
        blob(&mut body, b"m");
        blob(&mut body, b"header");
        body.extend_from_slice(&1u32.to_le_bytes());
        blob(&mut body, b"elements");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn a_whole_file_reads_back() {
        let (ns, table, genid, cache) = parse(&sample()).expect("a whole file");
        assert_eq!((ns.dev, ns.ino, ns.made, table.as_str(), genid), (1, 2, (3, 4), "t", 7));
        assert_eq!(cache.elements("m", b"header"), Some(vec![b"elements".to_vec()]));
        assert_eq!(cache.elements("m", b"another header"), None);
    }

    /// A map of `tcp . port : verdict`, one element per port of `ports`.
    fn map(ports: &[(u16, bool)]) -> nft::Set {
        use shriek_compiler::nft::{Data, DataType, Elem, Element, Part, Selector, Verdict};
        nft::Set {
            name: "m".into(),
            key: vec![Selector::L4proto, Selector::ThDport],
            interval: false,
            data: Some(DataType::Verdict),
            elements: ports
                .iter()
                .map(|&(p, accept)| Element {
                    key: Elem(vec![Part::Int(6, 6), Part::Int(p.into(), p.into())]),
                    data: Some(Data::Verdict(if accept { Verdict::Accept } else { Verdict::Drop })),
                    origin: vec![],
                })
                .collect(),
            counters: true,
            comment: None,
            dynamic: None,
        }
    }

    /// Every element's attributes in `messages`, sorted: what a reading
    /// decodes from them, whatever messages they come in.
    fn elements_of(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = messages
            .iter()
            .flat_map(|m| {
                let list = msg::attr(m, NFTA_SET_ELEM_LIST_ELEMENTS).expect("a list").to_vec();
                msg::attrs(&list).map(|(_, e)| e.to_vec()).collect::<Vec<_>>()
            })
            .collect();
        all.sort();
        all
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The law `edit` keeps: a set's cached elements edited as a commit
        /// edits the set hold the elements of the set after it, encoded
        /// anew. Enough elements for several messages; each port's verdict
        /// (kept, changed, gone, new) drawn at random.
        #[test]
        fn an_edited_set_holds_what_encoding_it_anew_holds(
            n in 1usize..6000,
            fate in proptest::collection::vec(0u8..8, 6000),
            extra in 0usize..40,
        ) {
            let old: Vec<(u16, bool)> = (0..n).map(|i| (i as u16, i % 2 == 0)).collect();
            let mut new = Vec::new();
            let (mut gone, mut came) = (HashSet::new(), Vec::new());
            for (i, &(p, accept)) in old.iter().enumerate() {
                match fate[i] {
                    // Removed, or its verdict changed: deleted by its key.
                    0 | 1 => {
                        gone.insert(encode::key_bytes(&map(&[]).key, &map(&[(p, accept)]).elements[0].key, false));
                        if fate[i] == 1 {
                            new.push((p, !accept));
                            came.push((p, !accept));
                        }
                    }
                    _ => new.push((p, accept)),
                }
            }
            for p in 0..extra {
                new.push((60_000 + p as u16, true));
                came.push((60_000 + p as u16, true));
            }
            let all = |ports: &[(u16, bool)]| {
                let s = map(ports);
                element_messages("t", &s, &s.elements.iter().collect::<Vec<_>>()).expect("encodes")
            };
            let mut cache = TableCache::default();
            cache.sets.insert("m".into(), CachedSet { header: b"h".to_vec(), elements: all(&old) });
            cache.edit("m", &gone, all(&came));
            let edited = cache.elements("m", b"h").expect("the set stays in the cache");
            proptest::prop_assert_eq!(elements_of(&edited), elements_of(&all(&new)));
            // A key the set does not hold: the set leaves the cache.
            let stray = encode::key_bytes(&map(&[]).key, &map(&[(59_999, true)]).elements[0].key, false);
            cache.edit("m", &HashSet::from([stray]), vec![]);
            proptest::prop_assert!(cache.elements("m", b"h").is_none());
        }
    }

    #[test]
    fn a_damaged_or_cut_off_file_is_no_cache() {
        let good = sample();
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_none(), "cut at {cut}");
        }
        for i in MAGIC.len()..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(parse(&bad).is_none(), "byte {i} flipped");
        }
    }
}
