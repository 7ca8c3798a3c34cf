//! Authorization in the handler's signature: `caller: Guarded<ManageSras>` authenticates the
//! request and checks the action's roles (`app::access::Action`) before the handler runs, so
//! a handler cannot forget, and a reader sees who may call it at a glance. Finer rules
//! (whose request, which stage) stay in the services.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::extract::authenticate;
use super::problem::Problem;
use crate::app::access::{Action, permits};
use crate::domain::caller::Caller;

/// An action a guard stands for.
pub trait Guard {
    const ACTION: Action;
}

/// The authenticated caller, allowed to do `G`'s action.
pub struct Guarded<G: Guard> {
    caller: Caller,
    action: PhantomData<G>,
}

impl<G: Guard> Deref for Guarded<G> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<G: Guard + 'static> FromRequest for Guarded<G> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req).await?;
            permits(&caller, G::ACTION)?;
            Ok(Guarded {
                caller,
                action: PhantomData,
            })
        })
    }
}

macro_rules! guards {
    ($($name:ident,)+) => {$(
        #[doc = concat!("Guards `Action::", stringify!($name), "`.")]
        pub struct $name;
        impl Guard for $name {
            const ACTION: Action = Action::$name;
        }
    )+};
}

guards! {
    RegisterAreas,
    SuspendAreas,
    LocatePersonnel,
    ManageSras,
    ReadSras,
    FollowRescreening,
    ManageWebhooks,
    ManagePeople,
    ManageIncidents,
    ManageAirOperators,
}
