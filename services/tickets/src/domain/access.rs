//! Who may see and change which ticket. Managers and admins see and change every ticket; a
//! customer sees the tickets they submitted and may cancel or close them; an expert sees the
//! tickets assigned to them and may accept, reject and resolve them.

use sysops_platform::auth::{forbidden, Identity, Role};
use sysops_platform::ApiError;
use uuid::Uuid;

use super::Action;

/// The owner and the assignee of a ticket: all that access depends on.
#[derive(Debug, Clone, Copy)]
pub struct Parties {
    pub customer_id: Option<Uuid>,
    pub assignee: Option<Uuid>,
}

/// Whether `caller` may see a ticket with these parties.
pub fn can_see(caller: &Identity, ticket: Parties) -> bool {
    match caller.role {
        Role::Manager | Role::Admin => true,
        Role::Customer => ticket.customer_id == Some(caller.user_id),
        Role::Expert => caller.expert_id.is_some() && ticket.assignee == caller.expert_id,
    }
}

/// The roles that may make `action` (on a ticket they can see).
pub fn roles_for(action: Action) -> &'static [Role] {
    match action {
        Action::Accept | Action::Reject | Action::Resolve => {
            &[Role::Expert, Role::Manager, Role::Admin]
        }
        Action::Cancel | Action::Close => &[Role::Customer, Role::Manager, Role::Admin],
        Action::Recategorize => &[Role::Manager, Role::Admin],
    }
}

/// Refuses with 403 when `caller`'s role may not make `action`.
pub fn may(caller: &Identity, action: Action) -> Result<(), ApiError> {
    let roles = roles_for(action);
    if roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(forbidden(caller.role, roles))
    }
}

/// The filters a list by `caller` is held to: a customer lists only their own tickets, an
/// expert only those assigned to them (`None`: no restriction).
pub fn list_scope(caller: &Identity) -> Option<Parties> {
    match caller.role {
        Role::Manager | Role::Admin => None,
        Role::Customer => Some(Parties {
            customer_id: Some(caller.user_id),
            assignee: None,
        }),
        // An expert account not linked to the roster is assigned nothing.
        Role::Expert => Some(Parties {
            customer_id: None,
            assignee: Some(caller.expert_id.unwrap_or(Uuid::nil())),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(role: Role) -> Identity {
        Identity {
            user_id: Uuid::now_v7(),
            role,
            email: format!("{role}@example.com"),
            expert_id: (role == Role::Expert).then(Uuid::now_v7),
            session: Uuid::now_v7(),
        }
    }

    #[test]
    fn customers_see_their_own_tickets_and_experts_those_assigned_to_them() {
        let customer = someone(Role::Customer);
        let expert = someone(Role::Expert);
        let theirs = Parties {
            customer_id: Some(customer.user_id),
            assignee: expert.expert_id,
        };
        let others = Parties {
            customer_id: Some(Uuid::now_v7()),
            assignee: Some(Uuid::now_v7()),
        };
        assert!(can_see(&customer, theirs) && !can_see(&customer, others));
        assert!(can_see(&expert, theirs) && !can_see(&expert, others));
        for staff in [someone(Role::Manager), someone(Role::Admin)] {
            assert!(can_see(&staff, theirs) && can_see(&staff, others));
        }
    }

    #[test]
    fn an_expert_without_a_roster_entry_sees_no_unassigned_ticket() {
        let mut expert = someone(Role::Expert);
        expert.expert_id = None;
        let unassigned = Parties {
            customer_id: None,
            assignee: None,
        };
        assert!(!can_see(&expert, unassigned));
    }

    #[test]
    fn only_experts_and_staff_work_a_ticket_and_only_customers_and_staff_cancel_it() {
        let customer = someone(Role::Customer);
        let expert = someone(Role::Expert);
        assert!(may(&expert, Action::Accept).is_ok());
        assert!(may(&customer, Action::Accept).is_err());
        assert!(may(&customer, Action::Cancel).is_ok());
        assert!(may(&expert, Action::Cancel).is_err());
        assert!(may(&expert, Action::Recategorize).is_err());
        assert!(may(&someone(Role::Manager), Action::Recategorize).is_ok());
    }
}
