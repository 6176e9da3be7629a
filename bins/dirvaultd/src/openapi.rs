//! What the generated OpenAPI document cannot say from the handlers alone: the errors every
//! operation can answer, and the names of kinds.

use dirvault_model::ObjectKind;

/// Every operation documents the errors any request can meet, with the error body: a bad
/// path or query (400), no or an unknown key (401), a scope that does not reach (403, 404),
/// a backend or internal failure (500, 502), a timeout or shutdown (503); with a body, one
/// too large (413) or not JSON (415).
pub(crate) fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let mut codes = vec![
                ("400", "a bad path, query or body"),
                ("401", "no API key, or an unknown one"),
                ("403", "the key may not do this"),
                ("404", "no such tenant for this key, or no such resource"),
                ("500", "an internal error"),
                ("502", "the repository or Graph failed"),
                ("503", "a timeout, or the daemon is shutting down"),
            ];
            if operation.request_body.is_some() {
                codes.push(("413", "the body is over 1 MiB"));
                codes.push(("415", "the body is not JSON"));
            }
            for (code, what) in codes {
                operation
                    .responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| error(what).into());
            }
            name_kinds(operation);
        }
    }
}

/// Parameters naming kinds list them: `kind` (path or query) is one of
/// [`ObjectKind::ALL`]'s names, `kinds` a comma-separated list of them.
fn name_kinds(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let names: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.name()).collect();
    let one = format!("({})", names.join("|"));
    for parameter in operation.parameters.iter_mut().flatten() {
        let utoipa::openapi::RefOr::T(parameter) = parameter else {
            continue;
        };
        let schema = match parameter.name.as_str() {
            "kind" => ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.clone()))
                .build(),
            "kinds" => ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^({one}(,{one})*)?$")))
                .build(),
            _ => continue,
        };
        parameter.schema = Some(schema.into());
    }
}
