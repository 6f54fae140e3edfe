// Versions and aliases through the official SDK: two published versions
// of different images, an alias splitting traffic by weight and by rule,
// moving it, and refusing to delete a version it routes to.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Server, expectCode, image, waitFor } from "./harness.mjs";

const server = new Server();
let scf;

before(async () => {
  await server.start();
  scf = server.client();
});

after(async () => {
  await server.stop();
  server.cleanup();
});

async function active(FunctionName) {
  const f = await waitFor(
    async () => {
      const g = await scf.GetFunction({ FunctionName });
      return g.Status === "Creating" || g.Status === "Updating" ? null : g;
    },
    { what: `${FunctionName} to settle` },
  );
  assert.equal(f.Status, "Active", JSON.stringify(f.StatusReasons));
}

// run invokes the function and returns the version the instance saw.
async function run(params) {
  const { Result } = await scf.Invoke({ FunctionName: "ver", ClientContext: "{}", ...params });
  assert.equal(Result.InvokeResult, 0, JSON.stringify(Result));
  const echo = JSON.parse(Result.RetMsg);
  assert.equal(echo.version, echo.headers["X-Scf-Version"], "SCF_FUNCTIONVERSION and X-Scf-Version agree");
  return echo.headers["X-Scf-Version"];
}

describe("versions and aliases", () => {
  test("publish two versions of two images", async () => {
    await scf.CreateFunction({ FunctionName: "ver", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo") } } });
    await active("ver");
    const v1 = await scf.PublishVersion({ FunctionName: "ver", Description: "first image" });
    assert.equal(v1.FunctionVersion, "1");
    await scf.UpdateFunctionCode({ FunctionName: "ver", Code: { ImageConfig: { ImageType: "personal", ImageUri: image("echo2") } } });
    await active("ver");
    const v2 = await scf.PublishVersion({ FunctionName: "ver" });
    assert.equal(v2.FunctionVersion, "2");
    const g1 = await scf.GetFunction({ FunctionName: "ver", Qualifier: "1" });
    const g2 = await scf.GetFunction({ FunctionName: "ver", Qualifier: "2" });
    assert.equal(g1.ImageConfig.ImageUri, image("echo"));
    assert.equal(g2.ImageConfig.ImageUri, image("echo2"));
    const { FunctionVersion } = await scf.ListVersionByFunction({ FunctionName: "ver" });
    assert.deepEqual(FunctionVersion, ["$LATEST", "1", "2"]);
    assert.equal(await run({ Qualifier: "1" }), "1");
    assert.equal(await run({ Qualifier: "2" }), "2");
    assert.equal(await run({}), "$LATEST");
  });

  test("an alias at version 1 with weight 0.3 to version 2 sends about 30% to version 2", async () => {
    await scf.CreateAlias({
      Name: "prod",
      FunctionName: "ver",
      FunctionVersion: "1",
      RoutingConfig: { AdditionalVersionWeights: [{ Version: "2", Weight: 0.3 }] },
    });
    const a = await scf.GetAlias({ FunctionName: "ver", Name: "prod" });
    assert.equal(a.FunctionVersion, "1");
    assert.deepEqual(a.RoutingConfig.AdditionalVersionWeights, [{ Version: "2", Weight: 0.3 }]);
    const seen = { 1: 0, 2: 0 };
    for (let i = 0; i < 100; i++) seen[await run({ Qualifier: "prod" })]++;
    assert.equal(seen[1] + seen[2], 100);
    // Binomial(100, 0.3): 15 to 45 holds with probability above 0.9995.
    assert.ok(seen[2] >= 15 && seen[2] <= 45, `version 2 ran ${seen[2]} of 100 times`);
  });

  test("GetFunction of an alias answers its main version, as clients check before they invoke", async () => {
    const f = await scf.GetFunction({ FunctionName: "ver", Qualifier: "prod" });
    assert.deepEqual([f.FunctionVersion, f.Qualifier, f.Status, f.ImageConfig.ImageUri], ["1", "prod", "Active", image("echo")]);
    const logs = await scf.GetFunctionLogs({ FunctionName: "ver", Qualifier: "prod", Limit: 100 });
    assert.ok(logs.TotalCount >= 100, `logs of prod: ${logs.TotalCount}`);
    await expectCode(() => scf.GetFunction({ FunctionName: "ver", Qualifier: "ghost" }), "ResourceNotFound.Version");
  });

  test("rule routing by RoutingKey", async () => {
    await scf.UpdateAlias({
      Name: "prod",
      FunctionName: "ver",
      FunctionVersion: "1",
      RoutingConfig: { AddtionVersionMatchs: [{ Version: "2", Key: "invoke.headers.User", Method: "exact", Expression: "Bob" }] },
    });
    for (let i = 0; i < 5; i++) {
      assert.equal(await run({ Qualifier: "prod", RoutingKey: JSON.stringify({ User: "Bob" }) }), "2");
      assert.equal(await run({ Qualifier: "prod", RoutingKey: JSON.stringify({ User: "Eve" }) }), "1");
    }
    await scf.UpdateAlias({
      Name: "prod",
      FunctionName: "ver",
      FunctionVersion: "1",
      RoutingConfig: { AddtionVersionMatchs: [{ Version: "2", Key: "invoke.headers.Uid", Method: "range", Expression: "[100,200)" }] },
    });
    assert.equal(await run({ Qualifier: "prod", RoutingKey: JSON.stringify({ Uid: "150" }) }), "2");
    assert.equal(await run({ Qualifier: "prod", RoutingKey: JSON.stringify({ Uid: "200" }) }), "1");
  });

  test("a routed version cannot be deleted; moving the alias frees it", async () => {
    await expectCode(() => scf.DeleteFunctionVersion({ FunctionName: "ver", Qualifier: "2" }), "UnsupportedOperation.AliasBind");
    await expectCode(() => scf.DeleteFunction({ FunctionName: "ver", Qualifier: "1" }), "UnsupportedOperation.AliasBind");
    await scf.UpdateAlias({ Name: "prod", FunctionName: "ver", FunctionVersion: "2" });
    for (let i = 0; i < 5; i++) assert.equal(await run({ Qualifier: "prod" }), "2");
    await scf.DeleteFunctionVersion({ FunctionName: "ver", Qualifier: "1" });
    await expectCode(() => scf.GetFunction({ FunctionName: "ver", Qualifier: "1" }), "ResourceNotFound.Version");
    const { Aliases } = await scf.ListAliases({ FunctionName: "ver" });
    assert.deepEqual(Aliases.map((x) => [x.Name, x.FunctionVersion]), [["prod", "2"]]);
  });

  test("InvokeFunction runs $DEFAULT, or $LATEST while there is none", async () => {
    const latest = await scf.InvokeFunction({ FunctionName: "ver", Event: "{}" });
    assert.equal(JSON.parse(latest.Result.RetMsg).headers["X-Scf-Version"], "$LATEST");
    await scf.CreateAlias({ Name: "$DEFAULT", FunctionName: "ver", FunctionVersion: "2" });
    const dflt = await scf.InvokeFunction({ FunctionName: "ver", Event: "{}" });
    assert.equal(JSON.parse(dflt.Result.RetMsg).headers["X-Scf-Version"], "2");
    await expectCode(() => scf.Invoke({ FunctionName: "ver", Qualifier: "ghost" }), "ResourceNotFound.Qualifier");
  });
});
