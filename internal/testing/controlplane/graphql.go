package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// Error codes gqlgen puts into extensions.code for protocol-level failures.
const (
	codeParseFailed      = "GRAPHQL_PARSE_FAILED"
	codeValidationFailed = "GRAPHQL_VALIDATION_FAILED"
)

// gqlRequest is the standard GraphQL-over-HTTP body, also used as the payload
// of a graphql-ws "start" message.
type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
	Extensions    map[string]any `json:"extensions"`
}

// decodeJSON decodes like gqlgen does: numbers stay json.Number.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// gqlResponse is a GraphQL response; field order matches gqlgen's output.
type gqlResponse struct {
	Errors gqlerror.List   `json:"errors,omitempty"`
	Data   json.RawMessage `json:"data"`
}

func errorResponse(errs gqlerror.List) *gqlResponse {
	return &gqlResponse{Errors: errs, Data: json.RawMessage("null")}
}

// operation is a parsed, validated operation with coerced variables.
type operation struct {
	doc  *ast.QueryDocument
	op   *ast.OperationDefinition
	vars map[string]any
}

func withCode(err *gqlerror.Error, code string) *gqlerror.Error {
	if err.Extensions == nil {
		err.Extensions = map[string]any{}
	}
	err.Extensions["code"] = code
	return err
}

// prepare parses and validates a request against the schema and coerces its
// variables. Any error returned is a protocol error (HTTP 422 / ws "error").
func prepare(schema *ast.Schema, req *gqlRequest) (*operation, gqlerror.List) {
	if req.Query == "" {
		return nil, gqlerror.List{withCode(gqlerror.Errorf("no operation provided"), codeValidationFailed)}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: req.Query})
	if err != nil {
		gerr, ok := err.(*gqlerror.Error)
		if !ok {
			gerr = gqlerror.Wrap(err)
		}
		return nil, gqlerror.List{withCode(gerr, codeParseFailed)}
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		for _, e := range errs {
			_ = withCode(e, codeValidationFailed)
		}
		return nil, errs
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		return nil, gqlerror.List{withCode(gqlerror.Errorf("operation %s not found", req.OperationName), codeValidationFailed)}
	}
	vars, err := validator.VariableValues(schema, op, req.Variables)
	if err != nil {
		gerr, ok := err.(*gqlerror.Error)
		if !ok {
			gerr = gqlerror.Wrap(err)
		}
		return nil, gqlerror.List{withCode(gerr, codeValidationFailed)}
	}
	return &operation{doc: doc, op: op, vars: vars}, nil
}

// collectedField is one response key of a selection set after fragments have
// been expanded and fields with the same response key merged.
type collectedField struct {
	alias string
	field *ast.Field
	sel   ast.SelectionSet
}

// collect expands a selection set for an object of type typeName, honouring
// @skip/@include, inline fragments and fragment spreads.
func (o *operation) collect(sel ast.SelectionSet, typeName string) []*collectedField {
	var out []*collectedField
	index := map[string]*collectedField{}
	visited := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(ss ast.SelectionSet) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ast.Field:
				if !o.included(s.Directives) {
					continue
				}
				if cf, ok := index[s.Alias]; ok {
					cf.sel = append(cf.sel, s.SelectionSet...)
					continue
				}
				cf := &collectedField{alias: s.Alias, field: s, sel: append(ast.SelectionSet(nil), s.SelectionSet...)}
				index[s.Alias] = cf
				out = append(out, cf)
			case *ast.InlineFragment:
				if !o.included(s.Directives) || (s.TypeCondition != "" && s.TypeCondition != typeName) {
					continue
				}
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if !o.included(s.Directives) || visited[s.Name] {
					continue
				}
				visited[s.Name] = true
				frag := o.doc.Fragments.ForName(s.Name)
				if frag == nil || (frag.TypeCondition != "" && frag.TypeCondition != typeName) {
					continue
				}
				walk(frag.SelectionSet)
			}
		}
	}
	walk(sel)
	return out
}

// included evaluates @skip and @include.
func (o *operation) included(dirs ast.DirectiveList) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, err := arg.Value.Value(o.vars)
		if err != nil {
			continue
		}
		b, _ := v.(bool)
		if d.Name == "skip" && b {
			return false
		}
		if d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// arguments resolves a field's arguments from the validated AST and the
// coerced variables, normalised to plain JSON-like values.
func (o *operation) arguments(f *ast.Field) (args map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid arguments: %v", r)
		}
	}()
	raw := f.ArgumentMap(o.vars)
	out, _ := plain(raw).(map[string]any)
	return out, nil
}

// plain deep-copies a value, turning every number into its decimal string:
// every scalar in the agent-facing inputs is a String, ID or Boolean, and
// gqlgen coerces numeric IDs to strings.
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = plain(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plain(e)
		}
		return l
	case json.Number:
		return v.String()
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return v
	}
}

// str reads a string member of a plain map ("" when absent or null).
func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// object is a JSON object that keeps its key order (GraphQL responses follow
// the selection order).
type object []member

type member struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// complete renders a resolved object (a map keyed by schema field name) per
// the selection set. Nested objects are map[string]any; nil means null.
func (o *operation) complete(typeName string, sel ast.SelectionSet, src map[string]any) object {
	fields := o.collect(sel, typeName)
	out := make(object, 0, len(fields))
	for _, cf := range fields {
		if cf.field.Name == "__typename" {
			out = append(out, member{cf.alias, typeName})
			continue
		}
		v := src[cf.field.Name]
		if m, ok := v.(map[string]any); ok && cf.field.Definition != nil {
			out = append(out, member{cf.alias, o.complete(cf.field.Definition.Type.Name(), cf.sel, m)})
			continue
		}
		out = append(out, member{cf.alias, v})
	}
	return out
}
