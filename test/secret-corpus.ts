/**
 * The one corpus of secrets in real gateway formats. Each case is a realistic manifest or
 * config file (as it would sit in a watched directory) with every secret value it holds
 * and the parts that must stay readable (header names, variable names, references, hosts).
 *
 * Every value here is invented. Secrets are long and distinctive so that a leak, its
 * base64 or its URL-encoded form can be searched for without matching by accident; each
 * appears literally in `yaml` (tests change a secret by editing that text).
 */
export interface SecretCase {
  /** What the case shows. */
  name: string;
  /** Where the file sits in a directory built from the corpus. */
  file: string;
  /** The file's text (YAML, possibly several documents). */
  yaml: string;
  /** Every secret value, as it appears in `yaml`. */
  secrets: string[];
  /** Text that must still appear in the masked output's JSON. */
  readable: string[];
}

// Token shapes, invented: right length and prefix, nothing real behind them.
const OPENAI = "sk-test-INVENTED0a1b2c3d4e5f6a7b8c9d0e1f";
const OPENAI_PROJ = "sk-proj-INVENTED9f8e7d6c5b4a3928170605";
const ANTHROPIC = "sk-ant-api03-INVENTED1234567890abcdefABCDEF";
const AWS_KEY_ID = "AKIAINVENTED0EXAMPLE";
const AWS_STS_ID = "ASIAINVENTED1EXAMPLE";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYINVENTEDKEY";
const AWS_SESSION = "FwoGZXIvYXdzEINVENTEDsessionTOKEN0123456789abcdef";
const GITHUB_PAT = "ghp_INVENTED0123456789abcdefghijklmnopqr";
const GITHUB_OAUTH = "gho_INVENTED0123456789abcdefghijklmnopqr";
const GITHUB_APP = "ghs_INVENTED0123456789abcdefghijklmnopqr";
const GITHUB_FINE = "github_pat_11INVENTED0_abcdefghijklmnopqrstuvwxyz0123";
const SLACK_BOT = "xoxb-1234567890-INVENTED-abcdefghijklmnop";
const SLACK_USER = "xoxp-1234567890-INVENTED-qrstuvwxyzabcdef";
const SLACK_APP = "xapp-1-A0INVENTED-1234567890-abcdef0123";
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJJTlZFTlRFRCIsIm5hbWUiOiJ0ZXN0In0.INVENTEDsig_0123456789abcdefABCDEF";
const GOOGLE = "AIzaSyINVENTED0123456789abcdefghijklmno";
const STRIPE = "sk_live_INVENTED0123456789abcdefABCD";
const STRIPE_RESTRICTED = "rk_live_INVENTED9876543210zyxwvuZYXW";
const GROQ = "gsk_INVENTED0123456789abcdefGHIJKLmnop";
const XAI = "xai-INVENTED0123456789abcdefGHIJKLmnopqrst";
const VAULT = "hvs.INVENTEDvaultToken0123456789abcd";
const SENDGRID = "SG.INVENTEDsendgrid01.INVENTEDsendgridSecret0123456789abc";
const PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCINVENTEDprivateKEYbody0123456789";

export const SECRET_CORPUS: SecretCase[] = [
  {
    name: "KongPlugin request-transformer: headers as name:value strings",
    file: "kong/request-transformer.yaml",
    yaml: `apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: add-upstream-auth
  namespace: shop
plugin: request-transformer
config:
  add:
    headers:
      - "Authorization:Bearer ${OPENAI}"
      - "x-api-key:INVENTED-kong-header-key-0001"
      - "x-request-source:storefront"
    querystring:
      - "api_key:INVENTED-kong-query-key-0002"
  replace:
    headers:
      - "Proxy-Authorization: Basic SU5WRU5URUQ6cHJveHktcGFzcy0wMDAz"
`,
    secrets: [
      OPENAI,
      "INVENTED-kong-header-key-0001",
      "INVENTED-kong-query-key-0002",
      "SU5WRU5URUQ6cHJveHktcGFzcy0wMDAz",
    ],
    readable: [
      "Authorization:Bearer ",
      "x-api-key:",
      "api_key:",
      "Proxy-Authorization: Basic ",
      "x-request-source:storefront",
      "request-transformer",
    ],
  },
  {
    name: "decK kong.yaml: request-transformer, key-auth consumers, ai-proxy auth, vault references",
    file: "decks/kong.yaml",
    yaml: `_format_version: "3.0"
services:
  - name: openai
    url: https://api.openai.com/v1
    plugins:
      - name: request-transformer
        config:
          add:
            headers:
              - "Authorization:Bearer ${OPENAI_PROJ}"
              - "apikey:INVENTED-deck-apikey-0004"
      - name: ai-proxy
        config:
          route_type: llm/v1/chat
          auth:
            header_name: api-key
            header_value: INVENTED-azure-openai-key-0005
          model:
            provider: azure
            name: gpt-4o
      - name: ai-proxy-advanced
        config:
          targets:
            - auth:
                param_name: key
                param_value: ${GOOGLE}
                param_location: query
              model:
                provider: gemini
                name: gemini-1.5-pro
            - auth:
                header_name: Authorization
                header_value: "{vault://env/openai-key}"
              model:
                provider: openai
                name: gpt-4o
consumers:
  - username: globex
    keyauth_credentials:
      - key: INVENTED-deck-consumer-key-0006
        ttl: 3600
    basicauth_credentials:
      - username: globex-ops
        password: INVENTED-deck-basic-pass-0007
    jwt_secrets:
      - key: globex-issuer
        secret: INVENTED-deck-jwt-secret-0008
        algorithm: HS256
`,
    secrets: [
      OPENAI_PROJ,
      "INVENTED-deck-apikey-0004",
      "INVENTED-azure-openai-key-0005",
      GOOGLE,
      "INVENTED-deck-consumer-key-0006",
      "INVENTED-deck-basic-pass-0007",
      "INVENTED-deck-jwt-secret-0008",
    ],
    readable: [
      "Authorization:Bearer ",
      "apikey:",
      "api-key",
      "param_name",
      "{vault://env/openai-key}",
      "https://api.openai.com/v1",
      "HS256",
      "3600",
      "gpt-4o",
    ],
  },
  {
    name: "KongPlugin ai-proxy with AWS and Azure credentials by field name",
    file: "kong/ai-proxy-bedrock.yaml",
    yaml: `apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata:
  name: ai-proxy-bedrock
plugin: ai-proxy
config:
  route_type: llm/v1/chat
  auth:
    aws_access_key_id: ${AWS_KEY_ID}
    aws_secret_access_key: ${AWS_SECRET}
    azure_client_secret: INVENTED-azure-client-secret-0009
    allow_override: false
  model:
    provider: bedrock
    name: anthropic.claude-3-5-sonnet
    options:
      bedrock:
        aws_region: us-east-1
`,
    secrets: [AWS_KEY_ID, AWS_SECRET, "INVENTED-azure-client-secret-0009"],
    readable: [
      "aws_access_key_id",
      "aws_secret_access_key",
      "us-east-1",
      "anthropic.claude-3-5-sonnet",
      '"allow_override":false',
    ],
  },
  {
    name: "KongConsumer: credentials are Secret names; the Secret holds the key",
    file: "kong/consumer.yaml",
    yaml: `apiVersion: configuration.konghq.com/v1
kind: KongConsumer
metadata:
  name: globex
  annotations:
    kubernetes.io/ingress.class: kong
username: globex
credentials:
  - globex-key-auth
  - globex-acl
---
apiVersion: v1
kind: Secret
metadata:
  name: globex-key-auth
  labels:
    konghq.com/credential: key-auth
type: Opaque
stringData:
  key: INVENTED-globex-consumer-key-0010
`,
    secrets: ["INVENTED-globex-consumer-key-0010"],
    readable: ["globex-key-auth", "globex-acl", "konghq.com/credential", "key-auth"],
  },
  {
    name: "ApisixRoute proxy-rewrite: headers as a map (set, add), any case",
    file: "apisix/route.yaml",
    yaml: `apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata:
  name: llm-upstream
spec:
  ingressClassName: apisix
  http:
    - name: chat
      match:
        paths: ["/v1/chat/*"]
      backends:
        - serviceName: llm
          servicePort: 80
      plugins:
        - name: proxy-rewrite
          enable: true
          config:
            headers:
              set:
                Authorization: "Bearer ${ANTHROPIC}"
                X-Api-Key: INVENTED-apisix-set-key-0011
              add:
                cookie: "session=INVENTED-apisix-cookie-0012"
                x-auth-token: INVENTED-apisix-auth-token-0013
                x-route: canary
`,
    secrets: [
      ANTHROPIC,
      "INVENTED-apisix-set-key-0011",
      "session=INVENTED-apisix-cookie-0012",
      "INVENTED-apisix-auth-token-0013",
    ],
    readable: [
      "Authorization",
      "Bearer ",
      "X-Api-Key",
      "cookie",
      "x-auth-token",
      "canary",
      "proxy-rewrite",
    ],
  },
  {
    name: "APISIX consumers: keyAuth value and a key-auth credential's config",
    file: "apisix/consumers.yaml",
    yaml: `apiVersion: apisix.apache.org/v2
kind: ApisixConsumer
metadata:
  name: tom
spec:
  ingressClassName: apisix
  authParameter:
    keyAuth:
      value:
        key: INVENTED-apisix-consumer-key-0014
    basicAuth:
      value:
        username: tom
        password: INVENTED-apisix-basic-pass-0015
---
apiVersion: apisix.apache.org/v2
kind: ApisixConsumer
metadata:
  name: jerry
spec:
  ingressClassName: apisix
  authParameter:
    keyAuth:
      secretRef:
        name: jerry-key-auth
---
apiVersion: apisix.apache.org/v1alpha1
kind: Consumer
metadata:
  name: spike
spec:
  gatewayRef:
    name: apisix
  credentials:
    - type: key-auth
      name: primary-key
      config:
        key: INVENTED-apisix-credential-key-0016
    - type: key-auth
      name: from-secret
      secretRef:
        name: spike-key-auth
`,
    secrets: [
      "INVENTED-apisix-consumer-key-0014",
      "INVENTED-apisix-basic-pass-0015",
      "INVENTED-apisix-credential-key-0016",
    ],
    readable: ["jerry-key-auth", "spike-key-auth", "primary-key", "key-auth", '"username":"tom"'],
  },
  {
    name: "APISIX standalone apisix.yaml: consumer auth plugins, upstream headers",
    file: "apisix/apisix.yaml",
    yaml: `routes:
  - id: chat
    uri: /v1/chat/completions
    plugins:
      key-auth:
        header: apikey
      ai-proxy:
        provider: openai
        auth:
          header:
            Authorization: "Bearer ${OPENAI}"
      proxy-rewrite:
        headers:
          set:
            X-Upstream-Token: INVENTED-standalone-upstream-0046
    upstream:
      type: roundrobin
      nodes:
        "api.openai.com:443": 1
consumers:
  - username: jack
    plugins:
      key-auth:
        key: INVENTED-standalone-key-0047
      basic-auth:
        username: jack
        password: INVENTED-standalone-pass-0048
      jwt-auth:
        key: jack-issuer
        secret: INVENTED-standalone-jwt-0049
      hmac-auth:
        key_id: jack-hmac
        secret_key: INVENTED-standalone-hmac-0050
#END
`,
    secrets: [
      OPENAI,
      "INVENTED-standalone-upstream-0046",
      "INVENTED-standalone-key-0047",
      "INVENTED-standalone-pass-0048",
      "INVENTED-standalone-jwt-0049",
      "INVENTED-standalone-hmac-0050",
    ],
    readable: [
      '"header":"apikey"',
      "Authorization",
      "Bearer ",
      "X-Upstream-Token",
      "jack-hmac",
      "api.openai.com:443",
      '"username":"jack"',
    ],
  },
  {
    name: "EnvoyPatchPolicy: Envoy header {key, value} in a JSON patch",
    file: "envoy-gateway/patch-policy.yaml",
    yaml: `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyPatchPolicy
metadata:
  name: upstream-auth
  namespace: default
spec:
  targetRef:
    group: gateway.networking.k8s.io
    kind: Gateway
    name: eg
  type: JSONPatch
  jsonPatches:
    - type: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
      name: default/eg/http
      operation:
        op: add
        path: "/virtual_hosts/0/request_headers_to_add"
        value:
          - header:
              key: Authorization
              value: "Bearer ${JWT}"
            append_action: OVERWRITE_IF_EXISTS_OR_ADD
          - header:
              key: x-api-key
              value: INVENTED-envoy-patch-key-0017
          - header:
              key: x-tenant
              value: globex
`,
    secrets: [JWT, "INVENTED-envoy-patch-key-0017"],
    readable: ["Authorization", "x-api-key", "x-tenant", "globex", "OVERWRITE_IF_EXISTS_OR_ADD"],
  },
  {
    name: "Envoy bootstrap: headers to add, Lua with a bearer token, an inline private key",
    file: "envoy/envoy.yaml",
    yaml: `static_resources:
  listeners:
    - name: main
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                route_config:
                  request_headers_to_add:
                    - header:
                        key: proxy-authorization
                        value: "Basic SU5WRU5URUQ6ZW52b3ktcHJveHktMDAxOA=="
                    - header:
                        key: authorization
                        value: "%DYNAMIC_METADATA(envoy.filters.http.ext_authz:upstream_token)%"
                http_filters:
                  - name: envoy.filters.http.lua
                    typed_config:
                      inline_code: |
                        function envoy_on_request(h)
                          local api_key = "INVENTED-lua-local-0045"
                          h:headers():replace("authorization", "Bearer INVENTEDluaToken0019abcdef")
                        end
          transport_socket:
            typed_config:
              common_tls_context:
                tls_certificates:
                  - certificate_chain:
                      filename: /etc/envoy/tls.crt
                    private_key:
                      inline_string: |
                        -----BEGIN PRIVATE KEY-----
                        ${PEM_BODY}
                        -----END PRIVATE KEY-----
  clusters:
    - name: upstream
      load_assignment:
        cluster_name: upstream
`,
    secrets: [
      "SU5WRU5URUQ6ZW52b3ktcHJveHktMDAxOA==",
      "INVENTEDluaToken0019abcdef",
      PEM_BODY,
      "INVENTED-lua-local-0045",
    ],
    readable: [
      "proxy-authorization",
      "Basic ",
      'replace(\\"authorization\\", \\"Bearer ',
      "/etc/envoy/tls.crt",
      "%DYNAMIC_METADATA(envoy.filters.http.ext_authz:upstream_token)%",
      "local api_key = ",
    ],
  },
  {
    name: "Deck certificate: a PEM private key in a field not named like a secret",
    file: "decks/certificates.yaml",
    yaml: `_format_version: "3.0"
certificates:
  - id: 3f2c9e4a-0000-4000-8000-000000000001
    cert: |
      -----BEGIN CERTIFICATE-----
      MIIBpublicCERTIFICATEbodyIsReadable0123456789
      -----END CERTIFICATE-----
    key: |
      -----BEGIN RSA PRIVATE KEY-----
      MIIEowIBAAKCAQEAINVENTEDrsaPrivateKeyBody9876543210
      -----END RSA PRIVATE KEY-----
    snis:
      - name: shop.example.com
`,
    secrets: ["MIIEowIBAAKCAQEAINVENTEDrsaPrivateKeyBody9876543210"],
    readable: [
      "-----BEGIN RSA PRIVATE KEY-----",
      "-----END RSA PRIVATE KEY-----",
      "MIIBpublicCERTIFICATEbodyIsReadable0123456789",
      "shop.example.com",
    ],
  },
  {
    name: "ConfigMap: env-file and properties text, a bearer credential, JSON text",
    file: "config/app-config.yaml",
    yaml: `apiVersion: v1
kind: ConfigMap
metadata:
  name: gateway-app
data:
  app.env: "OPENAI_API_KEY=${OPENAI}\\nDB_PASSWORD=INVENTED-env-db-pass-0020\\nLOG_LEVEL=debug\\nexport GITHUB_TOKEN=\\"${GITHUB_PAT}\\"\\nUPSTREAM_HOST=llm.internal\\n"
  application.properties: |
    spring.datasource.url=jdbc:postgresql://db:5432/app
    spring.datasource.username=app
    spring.datasource.password=INVENTED-props-db-pass-0021
    client.secret = INVENTED-props-client-secret-0022
    server.port=8080
  AUTH_HEADER: "Bearer INVENTEDauthHeader0023xyz"
  config.json: '{"endpoint":"https://llm.internal","apiKey":"INVENTED-json-api-key-0024","retries":3}'
  router.json: |
    {
      "model": "gpt-4o",
      "api_key": "INVENTED-pretty-json-key-0051",
      "timeout": 30
    }
`,
    secrets: [
      OPENAI,
      "INVENTED-env-db-pass-0020",
      GITHUB_PAT,
      "INVENTED-props-db-pass-0021",
      "INVENTED-props-client-secret-0022",
      "INVENTEDauthHeader0023xyz",
      "INVENTED-json-api-key-0024",
      "INVENTED-pretty-json-key-0051",
    ],
    readable: [
      "OPENAI_API_KEY=",
      "DB_PASSWORD=",
      "LOG_LEVEL=debug",
      "export GITHUB_TOKEN=",
      "UPSTREAM_HOST=llm.internal",
      "spring.datasource.password=",
      "spring.datasource.username=app",
      "client.secret = ",
      "server.port=8080",
      "Bearer ",
      '\\"apiKey\\":',
      "https://llm.internal",
      '\\"api_key\\": \\"<masked:',
      '\\"timeout\\": 30',
    ],
  },
  {
    name: "ConfigMap: an AWS credentials file and AWS keys by field name",
    file: "config/aws.yaml",
    yaml: `apiVersion: v1
kind: ConfigMap
metadata:
  name: bedrock-client
data:
  credentials: |
    [default]
    aws_access_key_id = ${AWS_STS_ID}
    aws_secret_access_key = ${AWS_SECRET}
    aws_session_token = ${AWS_SESSION}
    region = eu-west-1
---
bedrock:
  aws_access_key_id: ${AWS_KEY_ID}
  aws_secret_access_key: ${AWS_SECRET}
  aws_session_token: ${AWS_SESSION}
  aws_region_name: us-west-2
`,
    secrets: [AWS_STS_ID, AWS_SECRET, AWS_SESSION, AWS_KEY_ID],
    readable: ["aws_access_key_id", "aws_session_token", "us-west-2", "bedrock-client"],
  },
  {
    name: "Deployment env: a literal key, a secretKeyRef, a placeholder",
    file: "config/deployment.yaml",
    yaml: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: litellm
spec:
  template:
    spec:
      containers:
        - name: litellm
          image: ghcr.io/berriai/litellm:main-stable
          env:
            - name: ANTHROPIC_API_KEY
              value: ${ANTHROPIC}
            - name: DATABASE_URL
              value: postgresql://litellm:INVENTED-dsn-pass-0025@postgres:5432/litellm
            - name: AZURE_API_KEY
              valueFrom:
                secretKeyRef:
                  name: azure-openai
                  key: api-key
            - name: MASTER_KEY
              value: \${LITELLM_MASTER_KEY}
            - name: MAX_TOKENS
              value: "4096"
          args:
            - --port
            - "4000"
            - --api-key
            - INVENTED-cli-arg-key-0043
            - --client-secret=INVENTED-cli-arg-secret-0044
`,
    secrets: [
      ANTHROPIC,
      "INVENTED-dsn-pass-0025",
      "INVENTED-cli-arg-key-0043",
      "INVENTED-cli-arg-secret-0044",
    ],
    readable: [
      "ANTHROPIC_API_KEY",
      "postgresql://litellm:",
      "@postgres:5432/litellm",
      "secretKeyRef",
      "azure-openai",
      "api-key",
      "${LITELLM_MASTER_KEY}",
      "4096",
      '"--port","4000","--api-key",',
      "--client-secret=",
    ],
  },
  {
    name: "LiteLLM config.yaml: literal keys, os.environ references, a DSN, headers, webhooks",
    file: "litellm/config.yaml",
    yaml: `model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: ${OPENAI}
      rpm: 600
  - model_name: azure-gpt-4o
    litellm_params:
      model: azure/gpt-4o
      api_base: https://globex.openai.azure.com/
      api_key: os.environ/AZURE_API_KEY
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet
      aws_access_key_id: ${AWS_KEY_ID}
      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
      aws_region_name: us-east-1
  - model_name: cohere-rerank
    litellm_params:
      model: cohere/rerank-english-v3.0
      extra_headers:
        Authorization: bearer os.environ/COHERE_API_KEY
        x-api-key: ${OPENAI_PROJ}
litellm_settings:
  success_callback: ["langfuse"]
  langfuse_public_key: pk-lf-public-readable
  langfuse_secret: INVENTED-langfuse-secret-0026
general_settings:
  master_key: sk-INVENTEDmaster0027abcdef
  database_url: postgresql://llmproxy:INVENTED-db-pass-0028@db.internal:5432/litellm
  alerting: ["slack"]
environment_variables:
  SLACK_WEBHOOK_URL: https://hooks.slack.com/services/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
  REDIS_PASSWORD: INVENTED-redis-pass-0030
  REDIS_HOST: redis.internal
`,
    secrets: [
      OPENAI,
      AWS_KEY_ID,
      OPENAI_PROJ,
      "INVENTED-langfuse-secret-0026",
      "sk-INVENTEDmaster0027abcdef",
      "INVENTED-db-pass-0028",
      "INVENTEDslackPath0029abc",
      "INVENTED-redis-pass-0030",
    ],
    readable: [
      "os.environ/AZURE_API_KEY",
      "os.environ/AWS_SECRET_ACCESS_KEY",
      "bearer os.environ/COHERE_API_KEY",
      "x-api-key",
      "https://globex.openai.azure.com/",
      "postgresql://llmproxy:",
      "@db.internal:5432/litellm",
      "https://hooks.slack.com/services/",
      "redis.internal",
      "600",
      "pk-lf-public-readable",
    ],
  },
  {
    name: "Envoy AI Gateway: AIServiceBackend and BackendSecurityPolicy reference Secrets",
    file: "envoy-ai-gateway/backends.yaml",
    yaml: `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: openai
spec:
  schema:
    name: OpenAI
  backendRef:
    name: openai
    kind: Backend
    group: gateway.envoyproxy.io
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: openai-apikey
spec:
  targetRefs:
    - group: aigateway.envoyproxy.io
      kind: AIServiceBackend
      name: openai
  type: APIKey
  apiKey:
    secretRef:
      name: openai-apikey
      namespace: default
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata:
  name: bedrock-credentials
spec:
  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile:
      secretRef:
        name: bedrock-credentials-file
---
apiVersion: v1
kind: Secret
metadata:
  name: openai-apikey
type: Opaque
stringData:
  apiKey: ${OPENAI}
`,
    secrets: [OPENAI],
    readable: [
      "openai-apikey",
      "bedrock-credentials-file",
      "us-east-1",
      "APIKey",
      "AWSCredentials",
    ],
  },
  {
    name: "HTTPRoute header modifiers: cookies and proxy credentials",
    file: "gateway-api/header-modifiers.yaml",
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: legacy-backend
spec:
  rules:
    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set:
              - name: Cookie
                value: "sid=INVENTED-route-cookie-0031"
              - name: Proxy-Authorization
                value: "Basic SU5WRU5URUQ6cm91dGUtcHJveHktMDAzMg=="
            add:
              - name: X-Upstream
                value: legacy
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set:
              - name: Set-Cookie
                value: "edge=INVENTED-route-setcookie-0033; Path=/; HttpOnly"
      backendRefs:
        - name: legacy
          port: 8080
`,
    secrets: [
      "sid=INVENTED-route-cookie-0031",
      "SU5WRU5URUQ6cm91dGUtcHJveHktMDAzMg==",
      "edge=INVENTED-route-setcookie-0033",
    ],
    readable: ["Cookie", "Proxy-Authorization", "Basic ", "Set-Cookie", "X-Upstream", "legacy"],
  },
  {
    name: "Webhook URLs and tokens in query strings (http-log, alerting)",
    file: "kong/logging.yaml",
    yaml: `apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata:
  name: audit-log
  annotations:
    kubernetes.io/ingress.class: kong
plugin: http-log
config:
  http_endpoint: https://logs.example.com/ingest?source=kong&token=INVENTED-query-token-0034&format=json
  queue:
    max_batch_size: 100
---
alerts:
  slack: https://hooks.slack.com/services/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
  discord: https://discord.com/api/webhooks/123456789012345678/INVENTED-discord-token_0036abc
  teams: https://globex.webhook.office.com/webhookb2/INVENTED-teams-path-0037@tenant/IncomingWebhook/abc/def
  telegram: https://api.telegram.org/bot123456:INVENTED-telegram-0038/sendMessage
  blob: https://globexlogs.blob.core.windows.net/audit?sv=2022-11-02&ss=b&sig=INVENTEDsasSig0039%2Fabc%3D
  maps: https://maps.googleapis.com/maps/api/geocode/json?address=berlin&key=INVENTED-google-query-0040
  cb: https://cb.example.com/hook?access_token=INVENTED-access-token-0041&api_key=INVENTED-api-key-0042
`,
    secrets: [
      "INVENTED-query-token-0034",
      "INVENTEDslackHook0035xyz",
      "INVENTED-discord-token_0036abc",
      "INVENTED-teams-path-0037",
      "INVENTED-telegram-0038",
      "INVENTEDsasSig0039%2Fabc%3D",
      "INVENTED-google-query-0040",
      "INVENTED-access-token-0041",
      "INVENTED-api-key-0042",
    ],
    readable: [
      "https://logs.example.com/ingest?source=kong&token=",
      "&format=json",
      "https://hooks.slack.com/services/",
      "https://discord.com/api/webhooks/",
      "https://globex.webhook.office.com/webhookb2/",
      "https://api.telegram.org/bot",
      "https://globexlogs.blob.core.windows.net/audit?sv=2022-11-02&ss=b&sig=",
      "address=berlin&key=",
      "access_token=",
      "&api_key=",
    ],
  },
  {
    name: "Well-known token shapes in free text (annotations, descriptions, scripts)",
    file: "misc/tokens.yaml",
    yaml: `apiVersion: v1
kind: ConfigMap
metadata:
  name: ci-notes
  annotations:
    note: "rotate ${GITHUB_FINE} after the release"
data:
  runbook: |
    curl -H "Authorization: token ${GITHUB_OAUTH}" https://api.github.com/user
    GH_APP=${GITHUB_APP} ./deploy.sh
    slack bot ${SLACK_BOT} user ${SLACK_USER} app ${SLACK_APP}
    aws ${AWS_KEY_ID} and ${AWS_STS_ID}
    google ${GOOGLE}; stripe ${STRIPE} / ${STRIPE_RESTRICTED}
    anthropic ${ANTHROPIC}, openai ${OPENAI}
    session cookie jwt ${JWT}
    groq ${GROQ} xai ${XAI} vault ${VAULT} mail ${SENDGRID}
  plain: "no secret here: gateway.networking.k8s.io/v1, desk-top, risk-assessment-v2"
`,
    secrets: [
      GITHUB_FINE,
      GITHUB_OAUTH,
      GITHUB_APP,
      SLACK_BOT,
      SLACK_USER,
      SLACK_APP,
      AWS_KEY_ID,
      AWS_STS_ID,
      GOOGLE,
      STRIPE,
      STRIPE_RESTRICTED,
      ANTHROPIC,
      OPENAI,
      JWT,
      GROQ,
      XAI,
      VAULT,
      SENDGRID,
    ],
    readable: [
      "rotate ",
      " after the release",
      "https://api.github.com/user",
      "./deploy.sh",
      "slack bot ",
      "no secret here: gateway.networking.k8s.io/v1, desk-top, risk-assessment-v2",
    ],
  },
  {
    name: "References and non-secrets stay readable: secretRef, placeholders, numbers, booleans",
    file: "envoy-gateway/security-policy.yaml",
    yaml: `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: storefront-auth
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: storefront
  apiKeyAuth:
    credentialRefs:
      - name: storefront-api-keys
    extractFrom:
      - headers: ["X-API-KEY"]
  oidc:
    provider:
      issuer: https://idp.example.com/realms/shop
    clientID: storefront
    clientSecret:
      name: storefront-oidc-client-secret
    forwardAccessToken: true
    refreshToken: false
  extAuth:
    contextExtensions:
      - name: tier
        valueRef:
          name: tiers
          key: gold
  authorization:
    defaultAction: Deny
    rules:
      - action: Allow
        principal:
          jwt:
            provider: idp
            claims:
              - name: role
                values: ["admin"]
---
upstream:
  password: \${UPSTREAM_PASSWORD}
  token: $UPSTREAM_TOKEN
  api_key: os.environ/UPSTREAM_API_KEY
  max_tokens: 4096
  token_bucket_size: 50
  hide_credentials: true
`,
    secrets: [],
    readable: [
      "storefront-api-keys",
      "storefront-oidc-client-secret",
      "X-API-KEY",
      "https://idp.example.com/realms/shop",
      '"forwardAccessToken":true',
      '"refreshToken":false',
      '"key":"gold"',
      "Deny",
      "${UPSTREAM_PASSWORD}",
      "$UPSTREAM_TOKEN",
      "os.environ/UPSTREAM_API_KEY",
      '"max_tokens":4096',
      '"token_bucket_size":50',
      '"hide_credentials":true',
    ],
  },
];

/** A secret with its last character replaced (a digit by a digit, anything else by a letter). */
export function changeSecret(secret: string): string {
  const last = secret.at(-1) as string;
  const next = /[0-9]/.test(last) ? (last === "7" ? "8" : "7") : last === "Q" ? "R" : "Q";
  return `${secret.slice(0, -1)}${next}`;
}

/** The same text with every secret changed. */
export function withSecretsChanged(c: SecretCase): { yaml: string; secrets: string[] } {
  let yaml = c.yaml;
  for (const secret of c.secrets) yaml = yaml.split(secret).join(changeSecret(secret));
  return { yaml, secrets: c.secrets.map(changeSecret) };
}

/** The forms a leaked secret could take in output: plain, base64, URL-encoded. */
export function leakForms(secret: string): string[] {
  const forms = [secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret)];
  return [...new Set(forms)];
}
