//! The names of sets made in a transaction of their own (*staged*), and
//! how reading a table back folds them into the policy's names.
//!
//! An interval set made in the batch whose rules start using it is found
//! empty for a moment after the commit (Linux publishes an interval set's
//! elements in the commit's last step, `nft_set_commit_update`, after the
//! new rules are live). So `apply` makes such a set first, in a
//! transaction of its own, under a name of shriekc's:
//! `shriekc/staged/GENID/NAME`, where NAME is the set's name in the
//! policy and GENID the generation the staging transaction was made
//! against. A second transaction switches the rules to it. The kernel
//! cannot rename a set, so the set keeps that name for as long as it
//! lives; reading back, [`model_name`] turns it into NAME again, and the
//! model, `plan` and the diff never see the difference. A staged set that
//! no rule uses is one an interrupted `apply` left behind: reading back
//! names it apart ([`crate::decode::LiveTable::staged`]) so that `plan`
//! says so and the next `apply` deletes it.

use shriek_compiler::nft::{Expr, Rhs};

/// What every staged set's name begins with. `/` is in no name a policy
/// can write, so no set of the policy's begins so.
const STAGED_PREFIX: &str = "shriekc/staged/";

/// What the name of every rule's own interval set made first begins with.
const OWN_PREFIX: &str = "shriekc/own/";

/// The kernel's name for the `n`th rule's own interval set that the
/// staging transaction made at generation `genid` makes. A rule's own set
/// is anonymous in the policy's lowering (`tcp dport { 80-90, 443 }`); an
/// interval one is made first, before the rule that uses it, which an
/// anonymous set cannot be, so it gets a name: reading back, a rule that
/// looks a set of this name up holds the set's elements, as it would an
/// anonymous set's, and the set belongs to the rule
/// ([`crate::decode::LiveRule::own`]): it goes when the rule goes.
pub(crate) fn own_name(genid: u32, n: usize) -> String {
    format!("{OWN_PREFIX}{genid}/{n}")
}

/// Whether `kernel` names a rule's own set ([`own_name`]).
pub(crate) fn is_own(kernel: &str) -> bool {
    kernel.starts_with(OWN_PREFIX)
}

/// The kernel's name for set `model` staged at generation `genid`.
pub(crate) fn staged_name(model: &str, genid: u32) -> String {
    format!("{STAGED_PREFIX}{genid}/{model}")
}

/// The policy's name of a staged set, or `None` when `kernel` is not one.
pub(crate) fn model_name(kernel: &str) -> Option<&str> {
    let (_, model) = kernel.strip_prefix(STAGED_PREFIX)?.split_once('/')?;
    Some(model)
}

/// The name of the named set `e` uses, if it uses one.
pub(crate) fn set_used(e: &Expr) -> Option<&str> {
    match e {
        Expr::Match { rhs: Rhs::Named(name), .. } | Expr::Vmap { map: name, .. } => Some(name),
        Expr::Meter(m) => Some(&m.set),
        _ => None,
    }
}

/// [`set_used`], to rename it.
pub(crate) fn set_used_mut(e: &mut Expr) -> Option<&mut String> {
    match e {
        Expr::Match { rhs: Rhs::Named(name), .. } | Expr::Vmap { map: name, .. } => Some(name),
        Expr::Meter(m) => Some(&mut m.set),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_name_folds_back_to_the_policys_name() {
        let kernel = staged_name("dispatch_input_tcp_dport", 4711);
        assert_eq!(kernel, "shriekc/staged/4711/dispatch_input_tcp_dport");
        assert_eq!(model_name(&kernel), Some("dispatch_input_tcp_dport"));
        assert_eq!(model_name("dispatch_input_tcp_dport"), None);
        assert_eq!(model_name("shriekc/record"), None);
    }

    #[test]
    fn a_rules_own_set_is_no_set_of_the_policys() {
        let kernel = own_name(4711, 3);
        assert_eq!(kernel, "shriekc/own/4711/3");
        assert!(is_own(&kernel));
        assert_eq!(model_name(&kernel), None);
        assert!(!is_own("shriekc/staged/4711/own"));
    }
}
