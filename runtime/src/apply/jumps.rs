//! The dry run's check of jump depth, which the kernel makes only when a
//! batch is committed.

use std::collections::HashMap;

use nix::errno::Errno;
use shriek_compiler::nft;

use crate::encode;
use crate::error::{explain, KernelError, RuntimeError};

/// What the kernel's commit-time validation would say about jumps: a chain
/// reached 16 jumps deep from a base chain (EMLINK) or a loop (ELOOP),
/// blamed on the rule that jumps, as the kernel does. A dry run needs this
/// because the kernel only validates jumps when the batch is committed.
pub(crate) fn jump_depth_error(rs: &nft::Ruleset) -> Option<RuntimeError> {
    rs.tables.iter().find_map(table_jump_depth_error)
}

/// [`jump_depth_error`] for one table, so a caller holding a table need
/// not copy it into a ruleset.
pub(crate) fn table_jump_depth_error(t: &nft::Table) -> Option<RuntimeError> {
    let chains: HashMap<&str, &nft::Chain> =
        t.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let maps: HashMap<&str, &nft::Set> = t.sets.iter().map(|s| (s.name.as_str(), s)).collect();
    for base in t.chains.iter().filter(|c| c.base.is_some()) {
        let mut path = vec![base.name.as_str()];
        if let Some(e) = walk(&t.name, base, 0, &chains, &maps, &mut path) {
            return Some(e);
        }
    }
    None
}

fn walk<'a>(
    table: &str,
    chain: &'a nft::Chain,
    level: usize,
    chains: &HashMap<&str, &'a nft::Chain>,
    maps: &HashMap<&str, &'a nft::Set>,
    path: &mut Vec<&'a str>,
) -> Option<RuntimeError> {
    use nft::{Data, Expr, Verdict};
    for (index, rule) in chain.rules.iter().enumerate() {
        let mut targets: Vec<&str> = Vec::new();
        for e in &rule.exprs {
            match e {
                Expr::Verdict(Verdict::Jump(c) | Verdict::Goto(c)) => targets.push(c),
                Expr::Vmap { map, .. } => {
                    for el in maps.get(map.as_str()).map(|m| m.elements.as_slice()).unwrap_or(&[]) {
                        if let Some(Data::Verdict(Verdict::Jump(c) | Verdict::Goto(c))) = &el.data {
                            targets.push(c);
                        }
                    }
                }
                _ => {}
            }
        }
        for target in targets {
            let errno = if path.contains(&target) {
                Errno::ELOOP
            } else if level + 1 >= shriek_compiler::nft::vocab::JUMP_STACK_DEPTH {
                Errno::EMLINK
            } else {
                let Some(next) = chains.get(target) else { continue };
                path.push(target);
                let found = walk(table, next, level + 1, chains, maps, path);
                path.pop();
                match found {
                    Some(e) => return Some(e),
                    None => continue,
                }
            };
            let subject = encode::Subject::Rule {
                table: table.into(),
                chain: chain.name.clone(),
                index,
                origin: rule.origin.clone(),
            };
            let (reason, help) = explain(errno);
            return Some(RuntimeError::Kernel(Box::new(KernelError {
                errno: errno as i32,
                reason,
                subject: subject.describe(),
                origin: subject.origin(),
                help,
            })));
        }
    }
    None
}
