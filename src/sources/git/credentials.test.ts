import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gitAccess, maskSecrets } from "./credentials.js";
import { RepoPathSelector } from "./paths.js";

describe("git credentials", () => {
  it("should take user information out of the URL and pass it as an environment header", () => {
    const access = gitAccess("https://bot:tok%2Fen@git.example.org/gw.git");
    assert.equal(access.url, "https://git.example.org/gw.git");
    assert.equal(access.env.GIT_CONFIG_KEY_0, "http.extraHeader");
    const expected = Buffer.from("bot:tok/en").toString("base64");
    assert.equal(access.env.GIT_CONFIG_VALUE_0, `Authorization: Basic ${expected}`);
    const masked = maskSecrets(
      `fatal: https://bot:tok%2Fen@git.example.org said no to tok/en (${expected})`,
      access.secrets,
    );
    assert.ok(!masked.includes("tok"), masked);
  });

  it("should prefer configured credentials and leave ssh and file URLs alone", () => {
    const access = gitAccess("https://git.example.org/gw.git", "ci", "pa55word");
    assert.ok(access.secrets.includes("pa55word"));
    assert.deepStrictEqual(gitAccess("git@github.com:org/gw.git").env, {});
    assert.deepStrictEqual(gitAccess("file:///srv/gw.git").env, {});
  });
});

describe("repository path selection", () => {
  const include = ["**/*.yaml", "**/*.yml", "**/*.json"];

  it("should read paths, directories and globs as the files source does", () => {
    const s = new RepoPathSelector({
      paths: ["gateway/**/*.yaml", "litellm/config.yaml", "apisix"],
      include,
      exclude: ["**/skip/**"],
    });
    assert.equal(s.selects("gateway/team/a.yaml"), true);
    assert.equal(s.selects("gateway/team/a.json"), false);
    assert.equal(s.selects("gateway/skip/a.yaml"), false);
    assert.equal(s.selects("litellm/config.yaml"), true);
    assert.equal(s.selects("litellm/other.yaml"), false);
    assert.equal(s.selects("apisix/routes.json"), true);
    assert.equal(s.selects("apisix/README.md"), false);
    assert.deepStrictEqual(s.pathspecs(), ["apisix", "gateway", "litellm/config.yaml"]);
    const all = new RepoPathSelector({ paths: ["."], include, exclude: [] });
    assert.equal(all.selects("x/y.yml"), true);
    assert.deepStrictEqual(all.pathspecs(), []);
  });
});
