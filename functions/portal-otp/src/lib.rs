//! `portal-otp` (being written).
use wardline_shared::http::Function;

pub const FUNCTION: Function = Function {
    name: "portal-otp",
    routes: &[],
};
