//! Named counters count real traffic, and reset atomically.

use shriek_compiler::nft::Expr;

use super::api::*;
use super::model::*;

#[test]
fn counters_count_a_transfer_and_reset() {
    let Some(ns) = netns_or_skip("count") else { return };
    let mut rs = small("shriek_count", 5000);
    rs.tables[0].counters = vec!["web".into()];
    rs.tables[0].chains[0].rules[0].exprs.insert(2, Expr::Counter(Some("web".into())));
    apply(&rs, &ns.opts()).unwrap();
    ns.sh(TRANSFER);
    let which = [("shriek_count".to_string(), "web".to_string())];
    let read = shriek_runtime::read_counters(&which, false, ns.netns()).unwrap();
    assert!(read[0].bytes > 100_000 && read[0].packets > 2, "{read:?}");
    let reset = shriek_runtime::read_counters(&which, true, ns.netns()).unwrap();
    assert!(reset[0].bytes >= read[0].bytes, "{reset:?}");
    let after = shriek_runtime::read_counters(&which, false, ns.netns()).unwrap();
    assert_eq!((after[0].packets, after[0].bytes), (0, 0));
}

/// Sends 100 kB over TCP to port 5000 on loopback, in the namespace.
const TRANSFER: &str = r#"python3 - <<'PY'
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5000)); srv.listen(1)
got = []
def serve():
    c, _ = srv.accept(); n = 0
    while True:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    got.append(n); c.close()
t = threading.Thread(target=serve); t.start()
s = socket.create_connection(("127.0.0.1", 5000)); s.sendall(b"x" * 100000); s.close(); t.join()
assert got == [100000], got
PY"#;
