//! `destroy`: remove every table a policy made, in one batch.
//!
//! A table is the policy's when the marker in its user data names the
//! policy. Tables without a marker, or with another policy's, are never
//! touched, whatever their names.

use crate::abi::*;
use crate::apply::send_batch;
use crate::decode::{owner, Owner};
use crate::encode::{self, policy_key, Batch};
use crate::error::RuntimeError;
use crate::msg;
use crate::socket::{errno_err, Socket};

/// Deletes the tables `policy` (an entry file's absolute path) made, and
/// returns their names; none is no error.
pub fn destroy(policy: &str, netns: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let key = policy_key(policy);
    let mut sock = Socket::open(netns)?;
    for attempt in 0..2 {
        let genid = sock.genid()?;
        let tables = sock
            .request(NFT_MSG_GETTABLE, NLM_F_DUMP, |_| {})?
            .map_err(errno_err("listing tables"))?;
        let mut names: Vec<String> = tables
            .iter()
            .filter(|t| {
                let ud = msg::attr(t, NFTA_TABLE_USERDATA).unwrap_or(&[]);
                matches!(owner(ud), Owner::Shriek { policy, .. } if policy == key)
            })
            .filter_map(|t| msg::attr_str(t, NFTA_TABLE_NAME))
            .collect();
        names.sort();
        if names.is_empty() {
            return Ok(names);
        }
        let mut b = Batch::begin(sock.next_seq(), Some(genid));
        for name in &names {
            encode::delete_table(&mut b, name);
        }
        b.end();
        match send_batch(&mut sock, &b) {
            Ok(()) => {
                // Their day-2 cache files go with them.
                crate::cache::forget(netns, &names);
                return Ok(names);
            }
            Err(RuntimeError::Changed) if attempt == 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RuntimeError::Changed)
}
