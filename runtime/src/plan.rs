//! todo
use crate::error::RuntimeError;
use shriek_compiler::nft;
#[derive(Debug, Default)]
pub struct Plan {}
pub fn plan(_rs: &nft::Ruleset, _netns: Option<&str>) -> Result<Plan, RuntimeError> { Ok(Plan {}) }
