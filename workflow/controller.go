package workflow

import (
	"context"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoinformers "github.com/argoproj/argo-workflows/v3/pkg/client/informers/externalversions"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Controller runs the native engine on every new Workflow that matches a label selector — the
// agent's `--workflow-engine=native`, in place of Argo's workflow-controller.
type Controller struct {
	Engine    *Engine
	Namespace string // "" for all namespaces
	Selector  string // e.g. "workflows.argoproj.io/controller-instanceid=<infra ID>"
	Log       *zap.Logger

	mu      sync.Mutex
	running map[string]bool
}

// Run watches Workflows until ctx ends; each new Workflow (no phase yet) is driven to its end.
// On return every run has been told to stop and has finished.
func (c *Controller) Run(ctx context.Context) error {
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.running = map[string]bool{}
	factory := argoinformers.NewSharedInformerFactoryWithOptions(c.Engine.Argo, 0, argoinformers.WithNamespace(c.Namespace),
		argoinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = c.Selector }))
	inf := factory.Argoproj().V1alpha1().Workflows().Informer()
	var wg sync.WaitGroup
	start := func(obj any) {
		wf, ok := obj.(*wfv1.Workflow)
		if !ok || wf.Status.Phase != "" {
			return
		}
		key := wf.Namespace + "/" + wf.Name
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.running[key] {
			return
		}
		c.running[key] = true
		c.Log.Info("running a Workflow with the native engine", zap.String("workflow", key))
		wg.Go(func() {
			defer func() { c.mu.Lock(); delete(c.running, key); c.mu.Unlock() }()
			if err := c.Engine.Run(ctx, wf.Namespace, wf.Name); err != nil {
				c.Log.Error("native workflow run failed", zap.String("workflow", key), zap.Error(err))
			}
		})
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: start, UpdateFunc: func(_, obj any) { start(obj) }})
	factory.Start(ctx.Done())
	<-ctx.Done()
	wg.Wait()
	return nil
}
