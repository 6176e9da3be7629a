//! Authentication methods Graph lets an app create, change and delete (docs/graph.md §1).

use super::*;

/// Creatable authentication-method collections and their fixed ids (docs/graph.md §1).
pub(super) fn creatable_method(collection: &str, body: &Obj) -> GraphResult<(String, Obj)> {
    let ty = method_type(collection)?;
    let mut obj = Map::new();
    obj.insert("@odata.type".into(), json!(ty));
    let id = match collection {
        "phoneMethods" => {
            let number = body
                .get("phoneNumber")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("phoneNumber is required."))?;
            let phone_type = body
                .get("phoneType")
                .and_then(Value::as_str)
                .unwrap_or("mobile");
            let id = match phone_type {
                "mobile" => method_ids::MOBILE,
                "alternateMobile" => method_ids::ALTERNATE_MOBILE,
                "office" => method_ids::OFFICE,
                other => {
                    return Err(GraphError::bad_request(format!(
                        "Invalid phoneType '{other}'."
                    )));
                }
            };
            obj.insert("phoneNumber".into(), json!(number));
            obj.insert("phoneType".into(), json!(phone_type));
            obj.insert("smsSignInState".into(), json!("notAllowedByPolicy"));
            id.to_owned()
        }
        "emailMethods" => {
            let address = body
                .get("emailAddress")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("emailAddress is required."))?;
            obj.insert("emailAddress".into(), json!(address));
            method_ids::EMAIL.to_owned()
        }
        "temporaryAccessPassMethods" => {
            obj.insert(
                "temporaryAccessPass".into(),
                json!(crate::auth::random_secret()[..12].to_owned()),
            );
            obj.insert(
                "lifetimeInMinutes".into(),
                body.get("lifetimeInMinutes").cloned().unwrap_or(json!(60)),
            );
            obj.insert(
                "isUsableOnce".into(),
                body.get("isUsableOnce").cloned().unwrap_or(json!(false)),
            );
            new_id()
        }
        _ => {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!(
                    "{collection} cannot be created through Graph: the user must register this method."
                ),
            ));
        }
    };
    obj.insert("id".into(), json!(id));
    Ok((id, obj))
}

/// `POST /users/{id}/authentication/{collection}`
pub(crate) async fn create_auth_method(
    w: Writing,
    Path((id, coll)): Path<(String, String)>,
    body: Body,
) -> GraphResult<Response> {
    w.caller
        .require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    let body = object_body(body)?;
    let mut t = w.tenant.write();
    let user = user_id(&t, &id)?;
    let (method_id, obj) = creatable_method(&coll, &body)?;
    let methods = t.auth_methods.entry(user.clone()).or_default();
    let ty = obj.get("@odata.type").cloned();
    let one_per_user = coll != "phoneMethods";
    if methods.contains_key(&method_id)
        || (one_per_user
            && methods
                .values()
                .any(|m| m.get("@odata.type") == ty.as_ref()))
    {
        return Err(GraphError::bad_request(format!(
            "A method of this type already exists for the user ({coll})."
        ))
        .with_detail("ObjectConflict", "Method exists", &coll));
    }
    methods.insert(method_id, &obj);
    t.methods_updated.insert(user, w.now);
    Ok(json_response(StatusCode::CREATED, Value::Object(obj)))
}

/// `PATCH /users/{id}/authentication/{collection}/{method}`
pub(crate) async fn update_auth_method(
    w: Writing,
    Path((id, coll, method)): Path<(String, String, String)>,
    body: Body,
) -> GraphResult<Response> {
    w.caller
        .require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    let body = object_body(body)?;
    let allowed: &[&str] = match coll.as_str() {
        "phoneMethods" => &["phoneNumber", "phoneType"],
        "emailMethods" => &["emailAddress"],
        _ => {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{coll} cannot be updated."),
            ));
        }
    };
    let mut t = w.tenant.write();
    let user = user_id(&t, &id)?;
    let methods = t
        .auth_methods
        .get_mut(&user)
        .filter(|ms| ms.contains_key(&method))
        .ok_or_else(|| GraphError::not_found(&method))?;
    let mut m = methods.get(&method).unwrap_or_default();
    for (k, v) in body {
        if !allowed.contains(&k.as_str()) {
            return Err(read_only(&k));
        }
        m.insert(k, v);
    }
    methods.insert(method, &m);
    t.methods_updated.insert(user, w.now);
    Ok(no_content())
}

/// `DELETE /users/{id}/authentication/{collection}/{method}`
pub(crate) async fn delete_auth_method(
    w: Writing,
    Path((id, coll, method)): Path<(String, String, String)>,
) -> GraphResult<Response> {
    w.caller
        .require(&["UserAuthenticationMethod.ReadWrite.All"])?;
    if coll == "passwordMethods" {
        return Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The password method cannot be deleted.",
        ));
    }
    let ty = method_type(&coll)?;
    let mut t = w.tenant.write();
    let user = user_id(&t, &id)?;
    let methods = t
        .auth_methods
        .get_mut(&user)
        .ok_or_else(|| GraphError::not_found(&method))?;
    match methods.get(&method) {
        Some(m) if m.get("@odata.type").and_then(Value::as_str) == Some(ty) => {
            methods.remove(&method);
            t.methods_updated.insert(user, w.now);
            Ok(no_content())
        }
        _ => Err(GraphError::not_found(&method)),
    }
}
