//! The OpenAPI document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! Paths come from the handlers' `#[utoipa::path]` annotations, collected
//! by the same `OpenApiRouter` that registers the routes (see
//! [`super::openapi`]), so a route cannot exist without its entry. REST
//! bodies are `ferry_api`'s types; the messaging endpoints' proto3-JSON
//! bodies are referenced as `#/components/schemas/v1.<Message>`, and those
//! schemas are generated here from the compiled protobuf descriptors
//! ([`ferry_proto::FILE_DESCRIPTOR_SET`]) following the proto3 JSON mapping,
//! not written by hand.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use ferry_api::ErrorBody;
use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet, SourceCodeInfo,
    field_descriptor_proto::{Label, Type as Kind},
};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ArrayBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, ResponseBuilder,
        Schema, SchemaFormat, Type,
        schema::{AdditionalProperties, KnownFormat},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

/// The security scheme every operation needs unless it says `security(())`.
const BEARER: &str = "bearer";

/// Prefix of the schemas generated from `ferry.v1` messages.
const PROTO_PREFIX: &str = "#/components/schemas/v1.";

/// The document, rendered once.
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json", operation_id = "openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json"))
)]
pub async fn serve() -> Response {
    let json = DOCUMENT.get_or_init(|| {
        // Serialising a tree of strings, maps and numbers cannot fail.
        serde_json::to_string(&super::openapi()).unwrap_or_default()
    });
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// The document before the routes are added: info, the bearer scheme, and
/// bearer auth as the default for every operation.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Ferry HTTP API")
        .version("1")
        .description(Some(
            "Ferry's HTTP JSON API (docs/HTTP_API.md). REST resources are snake_case JSON; the messaging \
             endpoints speak the long connection's proto3 JSON (schemas `v1.*`, generated from \
             proto/ferry.proto). Every error is `{\"error\":{\"code\",\"message\",\"retry_after_ms\"?}}`.",
        ))
        .build();
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some("The token from `POST /api/v1/auth/login`; the long connection takes the same one."))
        .build();
    let mut doc = OpenApiBuilder::new().info(info).security(Some([SecurityRequirement::new(BEARER, [""; 0])])).build();
    doc.components.get_or_insert_default().add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    doc
}

/// Completes the document built from the routes: the error answers every
/// operation may give, and the `v1.*` schemas its paths refer to.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            let public = op.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
            let responses = &mut op.responses.responses;
            if !public {
                responses.entry("401".into()).or_insert_with(|| {
                    error("`unauthenticated`: no valid bearer token (`forbidden` 403 for a disabled account).").into()
                });
            }
            responses.entry("default".into()).or_insert_with(|| {
                error(
                    "Any other failure, with a stable code: `bad_request` (malformed JSON, query or path, 400), \
                     `payload_too_large` (413), `internal` (500)...",
                )
                .into()
            });
        }
    }
    // The v1 messages the document refers to, and everything they refer to.
    let mut wanted = BTreeSet::new();
    collect_refs(&serde_json::to_value(&doc).unwrap_or_default(), &mut wanted);
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    schemas.extend(proto::schemas(&wanted));
    doc.components.get_or_insert_default().schemas.extend(schemas);
    doc
}

/// The `v1.*` names of every `$ref` in `value`.
fn collect_refs(value: &serde_json::Value, into: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(name) = map.get("$ref").and_then(|r| r.as_str()).and_then(|r| r.strip_prefix(PROTO_PREFIX)) {
                into.insert(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

/// JSON schemas of `ferry.v1` messages under the proto3 JSON mapping, as
/// pbjson (and so the server) reads and writes them.
mod proto {
    use super::*;

    /// A message or enum of the descriptor set, with its comments.
    enum Decl<'a> {
        Message(&'a DescriptorProto, Comments),
        Enum(&'a EnumDescriptorProto, Comments),
    }

    /// The comments of a declaration: its own and its members' (by index).
    #[derive(Default)]
    struct Comments {
        own: Option<String>,
        members: BTreeMap<i32, String>,
    }

    /// Schemas for `wanted` (names without the `v1.` prefix) and everything
    /// they refer to, keyed `v1.<Name>`. Names that are not in the
    /// descriptors are left out (the document's test finds the dangling ref).
    pub(super) fn schemas(wanted: &BTreeSet<String>) -> Vec<(String, RefOr<Schema>)> {
        match FileDescriptorSet::decode(ferry_proto::FILE_DESCRIPTOR_SET) {
            Ok(set) => schemas_of(&set, wanted),
            Err(e) => {
                tracing::error!(error = %e, "ferry_proto::FILE_DESCRIPTOR_SET does not decode");
                Vec::new()
            }
        }
    }

    /// [`schemas`] from the `ferry.v1` package of `set`.
    pub(super) fn schemas_of(set: &FileDescriptorSet, wanted: &BTreeSet<String>) -> Vec<(String, RefOr<Schema>)> {
        let mut decls = BTreeMap::new();
        for file in set.file.iter().filter(|f| f.package() == "ferry.v1") {
            let info = file.source_code_info.as_ref();
            for (i, m) in file.message_type.iter().enumerate() {
                index_message(m, "", &[4, i as i32], info, &mut decls);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                decls.insert(e.name().to_owned(), Decl::Enum(e, comments(info, &[5, i as i32])));
            }
        }
        let mut out = BTreeMap::new();
        let mut todo: Vec<String> = wanted.iter().cloned().collect();
        while let Some(name) = todo.pop() {
            if out.contains_key(&name) {
                continue;
            }
            let Some(decl) = decls.get(&name) else { continue };
            let schema = match decl {
                Decl::Message(m, c) => message(m, c, &decls, &mut todo),
                Decl::Enum(e, c) => enumeration(e, c),
            };
            out.insert(name, schema);
        }
        out.into_iter().map(|(name, schema)| (format!("v1.{name}"), schema.into())).collect()
    }

    /// Records `m` (as `Outer.Inner` when nested) and its nested types.
    fn index_message<'a>(
        m: &'a DescriptorProto,
        outer: &str,
        path: &[i32],
        info: Option<&SourceCodeInfo>,
        decls: &mut BTreeMap<String, Decl<'a>>,
    ) {
        let name = if outer.is_empty() { m.name().to_owned() } else { format!("{outer}.{}", m.name()) };
        for (i, nested) in m.nested_type.iter().enumerate() {
            index_message(nested, &name, &[path, &[3, i as i32]].concat(), info, decls);
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            let c = comments(info, &[path, &[4, i as i32]].concat());
            decls.insert(format!("{name}.{}", e.name()), Decl::Enum(e, c));
        }
        // Fields are item 2 of a message, enum values item 2 of an enum.
        decls.insert(name, Decl::Message(m, comments(info, path)));
    }

    /// The leading (else trailing) comments of the declaration at `path`
    /// and of its members (`path` + `[2, i]`).
    fn comments(info: Option<&SourceCodeInfo>, path: &[i32]) -> Comments {
        let mut out = Comments::default();
        for loc in info.map(|i| i.location.as_slice()).unwrap_or_default() {
            let text = loc.leading_comments.as_deref().or(loc.trailing_comments.as_deref()).map(tidy);
            let Some(text) = text.filter(|t| !t.is_empty()) else { continue };
            match loc.path.strip_prefix(path) {
                Some([]) => out.own = Some(text),
                Some([2, i]) => {
                    out.members.insert(*i, text);
                }
                _ => {}
            }
        }
        out
    }

    /// A comment as one paragraph.
    fn tidy(comment: &str) -> String {
        comment.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// An object with one optional property per field, named by its JSON
    /// name; members of a oneof say that at most one of them is set.
    fn message(
        m: &DescriptorProto,
        c: &Comments,
        decls: &BTreeMap<String, Decl<'_>>,
        todo: &mut Vec<String>,
    ) -> Schema {
        let mut object = ObjectBuilder::new().schema_type(Type::Object).description(c.own.clone());
        for (i, f) in m.field.iter().enumerate() {
            let mut text = c.members.get(&(i as i32)).cloned().unwrap_or_default();
            if let Some(oneof) = f.oneof_index.filter(|_| !f.proto3_optional()) {
                let members: Vec<String> =
                    m.field.iter().filter(|g| g.oneof_index == Some(oneof)).map(json_name).collect();
                let group = m.oneof_decl.get(oneof as usize).map(|o| o.name()).unwrap_or_default();
                if !text.is_empty() && !text.ends_with(['.', '!', '?']) {
                    text.push('.');
                }
                text = format!("{text} At most one of `{}` (oneof `{group}`) is set.", members.join("`, `"));
            }
            object = object.property(json_name(f), field(f, text.trim(), decls, todo));
        }
        object.build().into()
    }

    /// The schema of one field: its value's, in an array when repeated, in
    /// an object when it is a map.
    fn field(
        f: &FieldDescriptorProto,
        description: &str,
        decls: &BTreeMap<String, Decl<'_>>,
        todo: &mut Vec<String>,
    ) -> RefOr<Schema> {
        let description = (!description.is_empty()).then(|| description.to_owned());
        let map_entry = match decls.get(type_name(f)) {
            Some(Decl::Message(m, _)) if m.options.as_ref().is_some_and(|o| o.map_entry()) => Some(m),
            _ => None,
        };
        if let (Some(entry), Label::Repeated) = (map_entry, f.label()) {
            let value = entry.field.iter().find(|v| v.number() == 2).map(|v| value(v, todo));
            let values = value.unwrap_or_else(|| ObjectBuilder::new().into());
            let object = ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(AdditionalProperties::RefOr(values)))
                .description(description);
            return object.build().into();
        }
        let value = value(f, todo);
        if f.label() == Label::Repeated {
            return ArrayBuilder::new().items(value).description(description).build().into();
        }
        match value {
            // A `$ref` takes no siblings in OpenAPI 3.0 tools; 3.1 allows a description.
            RefOr::Ref(mut r) => {
                r.description = description.unwrap_or_default();
                RefOr::Ref(r)
            }
            RefOr::T(Schema::Object(mut o)) => {
                o.description = description;
                RefOr::T(Schema::Object(o))
            }
            other => other,
        }
    }

    /// The schema of one value of `f`'s type under the proto3 JSON mapping.
    fn value(f: &FieldDescriptorProto, todo: &mut Vec<String>) -> RefOr<Schema> {
        let scalar = |ty: Type, format: Option<SchemaFormat>| -> RefOr<Schema> {
            ObjectBuilder::new().schema_type(ty).format(format).build().into()
        };
        let known = |k: KnownFormat| Some(SchemaFormat::KnownFormat(k));
        let custom = |c: &str| Some(SchemaFormat::Custom(c.to_owned()));
        match f.r#type() {
            // 64-bit integers are decimal strings (numbers are accepted on input).
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => scalar(Type::String, known(KnownFormat::Int64)),
            Kind::Uint64 | Kind::Fixed64 => scalar(Type::String, custom("uint64")),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => scalar(Type::Integer, known(KnownFormat::Int32)),
            Kind::Uint32 | Kind::Fixed32 => {
                ObjectBuilder::new().schema_type(Type::Integer).format(custom("uint32")).minimum(Some(0)).into()
            }
            Kind::Double => scalar(Type::Number, known(KnownFormat::Double)),
            Kind::Float => scalar(Type::Number, known(KnownFormat::Float)),
            Kind::Bool => scalar(Type::Boolean, None),
            Kind::String => scalar(Type::String, None),
            Kind::Bytes => scalar(Type::String, known(KnownFormat::Byte)),
            Kind::Message | Kind::Group | Kind::Enum => {
                let name = type_name(f).to_owned();
                todo.push(name.clone());
                RefOr::Ref(Ref::from_schema_name(format!("v1.{name}")))
            }
        }
    }

    /// An enum: its value names, as proto3 JSON writes them.
    fn enumeration(e: &EnumDescriptorProto, c: &Comments) -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(e.value.iter().map(|v| v.name().to_owned())))
            .description(c.own.clone())
            .build()
            .into()
    }

    /// The JSON name of a field: `json_name` as the compiler set it, or the
    /// lowerCamelCase of its name.
    fn json_name(f: &FieldDescriptorProto) -> String {
        if let Some(name) = f.json_name.as_deref().filter(|n| !n.is_empty()) {
            return name.to_owned();
        }
        let mut out = String::new();
        let mut upper = false;
        for ch in f.name().chars() {
            match ch {
                '_' => upper = true,
                _ if upper => {
                    out.extend(ch.to_uppercase());
                    upper = false;
                }
                _ => out.push(ch),
            }
        }
        out
    }

    /// `f`'s message or enum type relative to the package: `.ferry.v1.Text`
    /// is `Text`.
    fn type_name(f: &FieldDescriptorProto) -> &str {
        f.type_name().strip_prefix(".ferry.v1.").unwrap_or(f.type_name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost_types::{
        DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
        FileDescriptorSet, MessageOptions,
        field_descriptor_proto::{Label, Type as Kind},
    };
    use serde_json::{Value, json};

    use super::proto;

    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

    /// The document as served: through its JSON text.
    fn document() -> Value {
        let text = serde_json::to_string(&crate::http::openapi()).expect("serialises");
        serde_json::from_str(&text).expect("the document is JSON")
    }

    /// Every operation of the document: (METHOD, path) with the operation.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    out.push((method.to_uppercase(), path.clone(), op.clone()));
                }
            }
        }
        out
    }

    fn refs(value: &Value, into: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    into.insert(r.to_owned());
                }
                map.values().for_each(|v| refs(v, into));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, into)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_and_every_reference_resolves() {
        let doc = document();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut all = BTreeSet::new();
        refs(&doc, &mut all);
        for r in &all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("not a schema ref: {r}"));
            assert!(schemas.contains_key(name), "{r} does not resolve");
        }
        // Every v1 message the messaging endpoints carry, and what they hold.
        for name in [
            "ConversationList",
            "Conversation",
            "MessageBatch",
            "Message",
            "MessageContent",
            "Text",
            "System",
            "SendMessage",
            "SendAck",
            "MarkRead",
            "MarkReadOk",
            "PresenceList",
            "PresenceEvent",
        ] {
            assert!(schemas.contains_key(&format!("v1.{name}")), "no schema v1.{name}");
        }

        let ops = operations(&doc);
        assert!(ops.len() >= 45, "only {} operations", ops.len());
        let mut ids = BTreeSet::new();
        for (method, path, op) in &ops {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(ids.insert(id.to_owned()), "operationId {id:?} of {method} {path} is not unique");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} documents no success");
            assert!(responses.contains_key("default"), "{method} {path} documents no error body");
            let public = op["security"] == json!([{}]);
            assert!(public || responses.contains_key("401"), "{method} {path} needs a token but documents no 401");
        }
        let public: BTreeSet<&str> =
            ops.iter().filter(|(_, _, op)| op["security"] == json!([{}])).map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(public, BTreeSet::from(["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/openapi.json"]));
        assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    }

    #[test]
    fn the_v1_schemas_follow_the_proto3_json_mapping() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let prop = |message: &str, field: &str| schemas[format!("v1.{message}")]["properties"][field].clone();
        // lowerCamelCase names; 64-bit integers as strings, 32-bit as integers.
        assert_eq!(prop("Message", "seq")["type"], "string");
        assert_eq!(prop("Message", "senderId")["type"], "string");
        assert_eq!(prop("PresenceEvent", "devices")["type"], "integer");
        assert_eq!(prop("PresenceEvent", "online")["type"], "boolean");
        assert_eq!(prop("Message", "clientMsgId")["type"], "string");
        // Nested messages by reference, repeated fields as arrays.
        assert_eq!(prop("Message", "content")["$ref"], "#/components/schemas/v1.MessageContent");
        assert_eq!(prop("MessageBatch", "messages")["items"]["$ref"], "#/components/schemas/v1.Message");
        assert_eq!(prop("Text", "mentionUserIds")["type"], "array");
        assert_eq!(prop("Text", "mentionUserIds")["items"]["type"], "string");
        // Oneof members are optional properties that say so.
        for field in ["userId", "conversationId"] {
            let text = prop("SendMessage", field)["description"].as_str().unwrap_or_default().to_owned();
            assert!(text.contains("At most one of `userId`, `conversationId`"), "{field}: {text}");
        }
        assert!(schemas["v1.SendMessage"].get("required").is_none(), "proto3 JSON omits default values");
        // The proto's comments become descriptions.
        assert!(prop("SendAck", "duplicate")["description"].as_str().is_some_and(|d| d.contains("retry")));
        // No snake_case left in any v1 schema.
        for (name, schema) in schemas.as_object().expect("schemas").iter().filter(|(n, _)| n.starts_with("v1.")) {
            for field in schema["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_else(Vec::new) {
                assert!(!field.contains('_'), "{name}.{field} is not a JSON name");
            }
        }
    }

    #[test]
    fn bytes_enums_maps_and_nested_types_map_too() {
        let field = |name: &str, kind: Kind, label: Label, type_name: &str| FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(1),
            label: Some(label.into()),
            r#type: Some(kind.into()),
            type_name: (!type_name.is_empty()).then(|| type_name.into()),
            ..Default::default()
        };
        let entry = DescriptorProto {
            name: Some("TagsEntry".into()),
            field: vec![
                field("key", Kind::String, Label::Optional, ""),
                FieldDescriptorProto { number: Some(2), ..field("value", Kind::Uint64, Label::Optional, "") },
            ],
            options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let inner = DescriptorProto {
            name: Some("Inner".into()),
            field: vec![field("ratio", Kind::Double, Label::Optional, "")],
            ..Default::default()
        };
        let outer = DescriptorProto {
            name: Some("Outer".into()),
            field: vec![
                field("blob", Kind::Bytes, Label::Optional, ""),
                field("color", Kind::Enum, Label::Optional, ".ferry.v1.Color"),
                field("tags", Kind::Message, Label::Repeated, ".ferry.v1.Outer.TagsEntry"),
                field("inner", Kind::Message, Label::Optional, ".ferry.v1.Outer.Inner"),
            ],
            nested_type: vec![entry, inner],
            ..Default::default()
        };
        let color = EnumDescriptorProto {
            name: Some("Color".into()),
            value: ["COLOR_UNSET", "RED"]
                .iter()
                .map(|v| EnumValueDescriptorProto { name: Some((*v).into()), ..Default::default() })
                .collect(),
            ..Default::default()
        };
        let set = FileDescriptorSet {
            file: vec![FileDescriptorProto {
                package: Some("ferry.v1".into()),
                message_type: vec![outer],
                enum_type: vec![color],
                ..Default::default()
            }],
        };
        let schemas: serde_json::Map<String, Value> = proto::schemas_of(&set, &BTreeSet::from(["Outer".to_owned()]))
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).expect("serialises")))
            .collect();
        let names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        assert_eq!(names, ["v1.Color", "v1.Outer", "v1.Outer.Inner"], "map entries are no schemas of their own");
        let outer = &schemas["v1.Outer"]["properties"];
        assert_eq!(outer["blob"], json!({"type": "string", "format": "byte"}));
        assert_eq!(outer["color"]["$ref"], "#/components/schemas/v1.Color");
        assert_eq!(outer["tags"]["type"], "object");
        assert_eq!(outer["tags"]["additionalProperties"], json!({"type": "string", "format": "uint64"}));
        assert_eq!(outer["inner"]["$ref"], "#/components/schemas/v1.Outer.Inner");
        assert_eq!(schemas["v1.Color"]["enum"], json!(["COLOR_UNSET", "RED"]));
        assert_eq!(schemas["v1.Outer.Inner"]["properties"]["ratio"]["type"], "number");
    }

    /// (METHOD, path) pairs and bare paths under `/api/v1/` that `md` names.
    fn documented(md: &str) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
        let (mut with_method, mut paths) = (BTreeSet::new(), BTreeSet::new());
        for (at, _) in md.match_indices("/api/v1/") {
            let rest = &md[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || "/{}_-.".contains(c))).unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches('.').to_owned();
            let before = md[..at].trim_end_matches(' ');
            let method = ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .into_iter()
                .find(|m| before.strip_suffix(m).is_some_and(|b| !b.ends_with(|c: char| c.is_ascii_alphanumeric())));
            if let Some(method) = method {
                with_method.insert((method.to_owned(), path.clone()));
            }
            paths.insert(path);
        }
        (with_method, paths)
    }

    #[test]
    fn the_document_and_http_api_md_name_the_same_routes() {
        let md_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/HTTP_API.md");
        let md = std::fs::read_to_string(md_path).expect("docs/HTTP_API.md");
        let (with_method, paths) = documented(&md);
        let doc = document();
        let ops: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
        let missing: Vec<_> = ops.difference(&with_method).collect();
        assert!(missing.is_empty(), "documented in the OpenAPI document but not in HTTP_API.md: {missing:?}");
        let unknown: Vec<_> = with_method.difference(&ops).collect();
        assert!(unknown.is_empty(), "in HTTP_API.md but not in the OpenAPI document: {unknown:?}");
        let doc_paths: BTreeSet<String> = ops.into_iter().map(|(_, p)| p).collect();
        let unknown: Vec<_> = paths.difference(&doc_paths).collect();
        assert!(unknown.is_empty(), "paths in HTTP_API.md the OpenAPI document lacks: {unknown:?}");
    }
}
