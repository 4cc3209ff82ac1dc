extension TimeSpan: SchemaDescribed {
    public static var jsonSchema: JSONValue {
        .object([
            "type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$",
            "description": "A duration with units, such as 500ms, 30s, 10m, 1h30m or 2d.",
        ])
    }
    public static var schemaSample: TimeSpan { TimeSpan(seconds: 1) }
}

extension Command: SchemaDescribed {
    public static var jsonSchema: JSONValue {
        .object([
            "type": "array", "minItems": .number(1), "items": .object(["type": "string"]),
            "description": "The argv of a process; no shell runs it.",
        ])
    }
    public static var schemaSample: Command { Command(["true"]) }
}

extension SecretRef: SchemaDescribed {
    public static var jsonSchema: JSONValue {
        let ref: (String) -> JSONValue = { key in
            .object([
                "type": "object", "additionalProperties": false, "required": .array([.string(key)]),
                "properties": .object([key: .object(["type": "string"])]),
            ])
        }
        return .object([
            "oneOf": .array([ref("env"), ref("file")]),
            "description": "A secret by reference: an environment variable or a file, never the value.",
        ])
    }
    public static var schemaSample: SecretRef { SecretRef(env: "X") }
}

extension EnvValue: SchemaDescribed {
    public static var jsonSchema: JSONValue {
        .object([
            "oneOf": .array([
                .object(["type": "string"]),
                .object([
                    "type": "object", "additionalProperties": false, "required": .array(["secret"]),
                    "properties": .object(["secret": SecretRef.jsonSchema]),
                ]),
            ])
        ])
    }
    public static var schemaSample: EnvValue { .literal("") }
}

extension ParamValue: SchemaDescribed {
    public static var jsonSchema: JSONValue {
        .object(["type": .array(["string", "number", "boolean"])])
    }
    public static var schemaSample: ParamValue { .int(0) }
}
